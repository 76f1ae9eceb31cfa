"""bench: an attack-vs-defense harness for certified and empirical L0 robustness.

The public Python API (``bench.api``) and the types and registries it works with; the ``bench``
command line calls the same functions.
"""

from attacks.base import (
    Attack,
    AttackConfig,
    AttackResult,
    AttackTarget,
    RestartResult,
    restart_result,
    wrong_or_abstained,
)
from bench.api import (
    BuiltDefense,
    TrainResult,
    attack,
    build_defense,
    calibration_images,
    certify,
    defense_config,
    load_dataset,
    load_defense,
    load_plugins,
    make_attack,
    recipe_for,
    report,
    train,
    train_together,
)
from bench.configs import (
    NAMED_RECIPES,
    PAPER_RECIPE,
    PROFILES,
    RECIPES,
    AblationConfig,
    CertifyConfig,
    DefenseConfig,
    DerandomizedConfig,
    LeeConfig,
    PartitionConfig,
    TrainConfig,
    UndefendedConfig,
)
from bench.data import Dataset, Splits
from bench.ensemble import Ensemble, EnsembleConfig
from bench.errors import BenchError, InputError
from bench.parallel import Failure
from bench.registry import (
    Architecture,
    DatasetEntry,
    DefenseFamily,
    register_architecture,
    register_attack,
    register_dataset,
    register_defense,
    resolve_defense,
)
from bench.store import ResultStore
from reports.records import AttackRecord, CertifyRecord

__all__ = [
    "NAMED_RECIPES",
    "PAPER_RECIPE",
    "PROFILES",
    "RECIPES",
    "AblationConfig",
    "Architecture",
    "Attack",
    "AttackConfig",
    "AttackRecord",
    "AttackResult",
    "AttackTarget",
    "BenchError",
    "BuiltDefense",
    "CertifyConfig",
    "CertifyRecord",
    "Dataset",
    "DatasetEntry",
    "DefenseConfig",
    "DefenseFamily",
    "DerandomizedConfig",
    "Ensemble",
    "EnsembleConfig",
    "Failure",
    "InputError",
    "LeeConfig",
    "PartitionConfig",
    "RestartResult",
    "ResultStore",
    "Splits",
    "TrainConfig",
    "TrainResult",
    "UndefendedConfig",
    "attack",
    "build_defense",
    "calibration_images",
    "certify",
    "defense_config",
    "load_dataset",
    "load_defense",
    "load_plugins",
    "make_attack",
    "recipe_for",
    "register_architecture",
    "register_attack",
    "register_dataset",
    "register_defense",
    "report",
    "resolve_defense",
    "restart_result",
    "train",
    "train_together",
    "wrong_or_abstained",
]
