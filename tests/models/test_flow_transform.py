"""FlowTransform: feature checks, the non-finite rule, train-only fitting, JSON state."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flowsentinel.models import FlowTransform, MissingFeatureError, NotFittedError
from flowsentinel.schema import FEATURES

SMALL = ["Flow Duration", "Flow Bytes/s", "Fwd RST Flags", "Total TCP Flow Time"]


def frame(values, columns=SMALL):
    return pd.DataFrame(np.asarray(values, dtype=np.float64), columns=columns)


def test_missing_feature_message_names_every_missing_one(flows):
    data, _ = flows
    tf = FlowTransform(FEATURES).fit(data)
    with pytest.raises(MissingFeatureError) as err:
        tf.transform(data.drop(columns=["Total TCP Flow Time", "Flow IAT Max"]))
    msg = str(err.value)
    assert "'Total TCP Flow Time'" in msg and "'Flow IAT Max'" in msg
    assert "2017 release" in msg and "retrain without" in msg
    assert isinstance(err.value, ValueError)


def test_single_missing_feature_reads_naturally(flows):
    data, _ = flows
    tf = FlowTransform(FEATURES).fit(data)
    with pytest.raises(MissingFeatureError, match="data lacks 'Total TCP Flow Time', which this model uses"):
        tf.transform(data.drop(columns=["Total TCP Flow Time"]))


def test_unknown_or_duplicate_feature_names_are_refused():
    with pytest.raises(ValueError, match="unknown feature"):
        FlowTransform(["Flow Duration", "Destination Port"])
    with pytest.raises(ValueError, match="more than once"):
        FlowTransform(["Flow Duration", "Flow Duration"])
    FlowTransform([*FEATURES, "Dst Port"])  # identifiers allowed when asked for


def test_output_is_float32_in_feature_order_and_ignores_extra_columns(flows):
    data, _ = flows
    order = list(reversed(FEATURES))
    tf = FlowTransform(order).fit(data)
    out = tf.transform(data)  # frame has an extra "Dst Port" column
    assert out.dtype == np.float32 and out.shape == (len(data), len(FEATURES))
    assert out.flags.c_contiguous
    # a frame and the same values as an ndarray in feature order agree
    np.testing.assert_allclose(tf.transform(data[order].to_numpy()), out)
    # standardised on the fitting rows
    assert np.abs(out.mean(axis=0)).max() < 1e-3
    assert np.all(np.isfinite(out))


def test_nan_is_zero_and_infinities_clip_to_training_range():
    train = frame([[0, 10, 0, 5], [100, 1e9, 1, 50], [10, 1e3, 0, 7]])
    tf = FlowTransform(SMALL).fit(train)
    live = frame([[np.nan, np.inf, -np.inf, 1e12], [0, 0, 0, 0]])
    out = tf.transform(live)
    assert np.all(np.isfinite(out))
    # NaN behaves exactly like 0
    assert out[0, 0] == pytest.approx(out[1, 0])
    # +Inf becomes the training max, -Inf the training min, unseen extremes clip too
    ref = tf.transform(frame([[0, 1e9, 0, 50]]))
    assert out[0, 1] == pytest.approx(ref[0, 1])
    assert out[0, 2] == pytest.approx(ref[0, 2])
    assert out[0, 3] == pytest.approx(ref[0, 3])


def test_non_finite_training_values_do_not_poison_statistics():
    train = frame([[1, np.inf, 0, 1], [2, 5, 0, 1], [3, np.nan, 0, 1]])
    tf = FlowTransform(SMALL).fit(train)
    state = tf.to_dict()
    assert all(np.isfinite(state[k]).all() for k in ("min", "max", "mean", "scale"))
    # constant columns get scale 1 instead of dividing by zero
    assert state["scale"][2] == 1.0 and state["scale"][3] == 1.0


def test_signed_log_keeps_order_of_negative_values():
    train = frame([[-1e6, 0, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 0], [1e6, 0, 0, 0]])
    out = FlowTransform(SMALL).fit(train).transform(train)[:, 0]
    assert np.all(np.diff(out) > 0)


def test_fit_uses_only_the_given_rows(flows):
    data, _ = flows
    train, other = data.iloc[:500], data.iloc[500:].copy()
    a = FlowTransform(FEATURES).fit(train)
    other.loc[:, "Flow Duration"] = 1e15  # wildly different rows never seen by fit
    b = FlowTransform(FEATURES).fit(train)
    assert a.to_dict() == b.to_dict()
    assert a.n_samples_seen_ == 500
    assert a.transform(other)[:, 0].max() == pytest.approx(a.transform(train)[:, 0].max())


def test_json_round_trip_gives_identical_output(flows):
    data, _ = flows
    tf = FlowTransform(FEATURES).fit(data.iloc[:800])
    state = json.loads(json.dumps(tf.to_dict()))
    again = FlowTransform.from_dict(state)
    assert again.features == tf.features
    assert np.array_equal(again.transform(data), tf.transform(data))


def test_from_dict_rejects_inconsistent_state(flows):
    data, _ = flows
    state = FlowTransform(FEATURES).fit(data).to_dict()
    state["mean"] = state["mean"][:-1]
    with pytest.raises(ValueError, match="'mean' must be 81 finite numbers"):
        FlowTransform.from_dict(state)
    with pytest.raises(ValueError, match="version-1 FlowTransform"):
        FlowTransform.from_dict({"class": "StandardScaler"})


def test_bad_inputs_are_explained(flows):
    data, _ = flows
    tf = FlowTransform(FEATURES)
    with pytest.raises(NotFittedError):
        tf.transform(data)
    tf.fit(data)
    with pytest.raises(ValueError, match=r"shape \(n_flows, 81\)"):
        tf.transform(np.zeros((3, 80)))
    text = data.astype({"Flow Bytes/s": object})
    text["Flow Bytes/s"] = "fast"
    with pytest.raises(ValueError, match="not numeric"):
        tf.transform(text)
    one = tf.transform(data.iloc[0].to_numpy()[: len(FEATURES)])
    assert one.shape == (1, len(FEATURES))
