"""Every kgagent exception lives in kgagent.errors; old import locations still work."""

from __future__ import annotations

import pytest

from kgagent import errors


def test_every_error_is_a_kgagent_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.KGAgentError), name


def test_old_locations_re_export_the_same_classes() -> None:
    from kgagent.policy import PolicyError as from_policy
    from kgagent.policy.reasoner import PolicyError as from_reasoner
    from kgagent.qa import QAFormatError
    from kgagent.transfer import TransferError as from_transfer
    from kgagent.transfer.checkpoint import TransferError as from_checkpoint

    assert from_policy is from_reasoner is errors.PolicyError
    assert from_transfer is from_checkpoint is errors.TransferError
    assert QAFormatError is errors.QAFormatError


def test_validation_error_is_a_deprecated_alias() -> None:
    assert errors.ValidationError is errors.ShapeValidationError


def test_shacl_validation_raises_shape_validation_error() -> None:
    from kgagent import KnowledgeGraph

    kg = KnowledgeGraph()
    try:
        with pytest.raises(errors.ShapeValidationError, match="inference"):
            kg.validate(object(), inference="nope")
        with pytest.raises(errors.ValidationError, match="shapes must be"):
            kg.validate(object())
    finally:
        kg.close()
