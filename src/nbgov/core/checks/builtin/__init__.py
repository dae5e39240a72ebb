"""The built-in rules, in the order they are listed and run."""

from __future__ import annotations

from nbgov.core.checks.builtin.notebook import (
    ABSOLUTE_PATHS,
    EXECUTION_ORDER,
    INJECTED_IN_SOURCE,
    INVALID,
    KERNELSPEC,
    LITERAL_PARAMETERS,
    MISSING_PARAMETERS,
    MULTIPLE_PARAMETERS,
    OUTPUTS,
    VOLATILE_METADATA,
)
from nbgov.core.checks.builtin.project import (
    NOT_A_TASK,
    NOT_APPROVED,
    PIPELINE_INVALID,
    PRODUCT_UNDECLARED,
    TASK_SOURCE_MISSING,
)
from nbgov.core.checks.builtin.secrets import SECRET_IN_OUTPUT, SECRET_IN_SOURCE

BUILTIN_RULES = [
    INVALID,
    MISSING_PARAMETERS,
    MULTIPLE_PARAMETERS,
    LITERAL_PARAMETERS,
    INJECTED_IN_SOURCE,
    OUTPUTS,
    EXECUTION_ORDER,
    VOLATILE_METADATA,
    KERNELSPEC,
    ABSOLUTE_PATHS,
    SECRET_IN_SOURCE,
    SECRET_IN_OUTPUT,
    PIPELINE_INVALID,
    TASK_SOURCE_MISSING,
    PRODUCT_UNDECLARED,
    NOT_A_TASK,
    NOT_APPROVED,
]

#: The rule the engine reports unreadable and malformed notebooks under.
INVALID_RULE = INVALID
