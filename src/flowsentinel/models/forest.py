"""Random Forest detector: trained with scikit-learn, served by ONNX Runtime.

scikit-learn's ``predict_proba`` costs milliseconds per call even for one flow
(joblib dispatch, input validation); the same forest converted with skl2onnx
scores a flow in tens of microseconds under ONNX Runtime.  The live path
scores small batches, so after ``fit`` the forest is converted to ONNX, the
sklearn object is dropped, and both the threshold calibration and every later
score go through the ONNX session — the engine used in production.  The saved
artifact is the ``.onnx`` file only (no pickle).
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from flowsentinel.models.base import Detector, OnnxServed

__all__ = ["RandomForestDetector"]

log = logging.getLogger(__name__)


def _attack_probability_graph(model):
    """Make the skl2onnx graph return P(attack) of shape (n,) only, clipped to [0, 1].

    skl2onnx outputs ``label`` and ``probabilities`` (n, 2).  Selecting the
    attack column and clipping (summing 100 float32 leaf values can land a
    hair outside [0, 1]) inside the graph costs ORT about a microsecond, the
    same steps in numpy several — a large share of a ~30 µs batch-1 call.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    probs = next(o.name for o in graph.output if o.name.startswith("prob"))
    graph.initializer.extend([
        numpy_helper.from_array(np.array(1, dtype=np.int64), name="fs_attack_column"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), name="fs_zero"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), name="fs_one"),
    ])
    graph.node.extend([
        helper.make_node("Gather", [probs, "fs_attack_column"], ["fs_attack_raw"], axis=1),
        helper.make_node("Clip", ["fs_attack_raw", "fs_zero", "fs_one"], ["P_attack"]),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("P_attack", TensorProto.FLOAT, ["n_flows"]))
    return model


class RandomForestDetector(OnnxServed, Detector):
    """Random Forest on transformed flow features, scored through ONNX Runtime.

    Parameters
    ----------
    n_estimators : int
        Number of trees.
    max_depth : int or None
        Maximum tree depth (None = grow until leaves are pure).
    min_samples_leaf : int
        Minimum rows per leaf.
    max_features : str, int or float
        Features considered per split (scikit-learn semantics).
    class_weight : str or None
        ``"balanced_subsample"`` reweights classes per bootstrap sample so
        benign rows count as much as the (usually more numerous) attacks.
    benign_weight : float
        Extra multiplier on benign rows' sample weight (on top of
        ``class_weight``); > 1 pushes benign scores down, trading a little
        recall for a lower false-positive rate.  Matters only where leaves
        are impure (``min_samples_leaf`` > 1 or ``max_depth`` set).
    n_jobs : int
        Training parallelism (-1 = all cores).
    ort_threads : int
        Intra-op threads of the serving session (1 is best for small batches).
    random_state : int
        Seed for bootstrap and feature sampling.
    val_fraction : float
        See :class:`~flowsentinel.models.base.Detector`.

    Attributes
    ----------
    threshold_ : float
    feature_importances_ : ndarray (n_features,)
        Mean decrease in impurity, from the fitted sklearn forest.
    onnx_bytes_ : bytes
        The serving model.
    """

    name = "rf"
    artifact = "rf.onnx"

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        max_features: str | float = "sqrt",
        class_weight: str | None = "balanced_subsample",
        benign_weight: float = 1.0,
        n_jobs: int = -1,
        ort_threads: int = 1,
        random_state: int = 0,
        val_fraction: float = 0.2,
    ) -> None:
        super().__init__(random_state=random_state, val_fraction=val_fraction)
        if n_estimators < 1:
            raise ValueError(f"n_estimators must be >= 1, got {n_estimators}")
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.class_weight = class_weight
        self.benign_weight = benign_weight
        self.n_jobs = n_jobs
        self.ort_threads = ort_threads

    def params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "min_samples_leaf": self.min_samples_leaf,
            "max_features": self.max_features,
            "class_weight": self.class_weight,
            "benign_weight": self.benign_weight,
            "n_jobs": self.n_jobs,
            "ort_threads": self.ort_threads,
            "random_state": self.random_state,
            "val_fraction": self.val_fraction,
        }

    def _fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> None:
        from skl2onnx import to_onnx
        from sklearn.ensemble import RandomForestClassifier

        t0 = time.perf_counter()
        forest = RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            class_weight=self.class_weight,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        ).fit(X, y, sample_weight=np.where(y == 0, self.benign_weight, 1.0))
        t1 = time.perf_counter()
        # skl2onnx walks every attribute of the model, and the forest's
        # ``estimators_samples_`` property re-draws each tree's bootstrap indices:
        # 70 s of the 1M-row fit for nothing.  Convert a shallow copy that says
        # "no bootstrap" (the trees are shared and the graph does not depend on it).
        export = copy.copy(forest)
        export.bootstrap = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onx = to_onnx(export, X[:1], options={id(export): {"zipmap": False}})
        self.onnx_bytes_ = _attack_probability_graph(onx).SerializeToString()
        self.feature_importances_ = forest.feature_importances_.astype(np.float64)
        self.n_nodes_ = int(sum(t.tree_.node_count for t in forest.estimators_))
        self.fit_seconds_ = t1 - t0
        log.info("rf: %d trees (%d nodes) fitted on %d rows in %.1f s; ONNX %.1f MB",
                 self.n_estimators, self.n_nodes_, len(y), self.fit_seconds_,
                 len(self.onnx_bytes_) / 1e6)
        self._start_session()

    def learned(self) -> dict[str, Any]:
        return {
            "feature_importances": [float(v) for v in self.feature_importances_],
            "n_nodes": getattr(self, "n_nodes_", None),
        }

    def _save(self, folder: Path) -> list[str]:
        (folder / self.artifact).write_bytes(self.onnx_bytes_)
        return [self.artifact]

    def _load(self, folder: Path, meta: dict[str, Any]) -> None:
        self.onnx_bytes_ = (folder / self.artifact).read_bytes()
        md = meta.get("metadata", {})
        self.feature_importances_ = np.asarray(md.get("feature_importances", []), dtype=np.float64)
        self.n_nodes_ = md.get("n_nodes")
        self._start_session()
