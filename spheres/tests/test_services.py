import datetime as dt

import pytest
from django.utils import timezone

from communications import selectors as communication_selectors
from communications.models import Communication
from communications.tests.factories import CommunicationFactory
from spheres import services
from spheres.models import Evaluation, EvaluationWindow, Group
from spheres.tests.factories import (
    EvaluationFactory,
    EvaluationWindowFactory,
    GroupFactory,
    LearnerFactory,
)

pytestmark = pytest.mark.django_db

JUNE_3 = dt.datetime(2030, 6, 3, 7, 0, tzinfo=dt.UTC)


def _deactivated(**kwargs) -> Communication:
    return CommunicationFactory(
        state=Communication.State.DEACTIVATED, deactivated_at=timezone.now(), **kwargs
    )


def _announcement(evaluation: Evaluation, **kwargs) -> Communication:
    return CommunicationFactory(
        sphere=evaluation.sphere,
        kind=Communication.Kind.EVALUATION,
        evaluation=evaluation,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        **kwargs,
    )


# --- group_delete ---------------------------------------------------------------------


def test_group_delete_refuses_the_only_group_of_an_active_communication(sphere):
    # given
    group = GroupFactory(sphere=sphere, name="Classe 3e A")
    other = GroupFactory(sphere=sphere)
    CommunicationFactory(sphere=sphere, name="Relance de mai", groups=[group])
    CommunicationFactory(sphere=sphere, name="Relance de juin", groups=[group])
    shared = CommunicationFactory(sphere=sphere, name="Partagée", groups=[group, other])
    # when
    with pytest.raises(services.ServiceError) as refused:
        services.group_delete(group=group)
    # then: the message names the group and only the communications it would empty
    assert str(refused.value) == (
        "Le groupe « Classe 3e A » est le seul groupe des communications actives "
        "« Relance de juin », « Relance de mai » : modifiez-les pour choisir un autre "
        "groupe, ou désactivez-les, avant de supprimer ce groupe."
    )
    assert Group.objects.filter(pk=group.pk).exists()
    assert shared.groups.count() == 2


def test_group_delete_keeps_the_other_groups_of_a_communication(sphere):
    # given
    group, other = GroupFactory.create_batch(2, sphere=sphere)
    learner = LearnerFactory(sphere=sphere, groups=[group])
    communication = CommunicationFactory(sphere=sphere, groups=[group, other])
    # when
    services.group_delete(group=group)
    # then
    assert not Group.objects.filter(pk=group.pk).exists()
    assert list(communication.groups.all()) == [other]
    learner.refresh_from_db()
    assert not learner.groups.exists()


def test_group_delete_is_not_blocked_by_deactivated_or_completed_communications(
    sphere,
):
    # given
    group = GroupFactory(sphere=sphere)
    _deactivated(sphere=sphere, groups=[group])
    CommunicationFactory(
        sphere=sphere, groups=[group], state=Communication.State.COMPLETED
    )
    # when
    services.group_delete(group=group)
    # then
    assert not Group.objects.filter(pk=group.pk).exists()


# --- evaluation_update ----------------------------------------------------------------


def test_evaluation_update_renames_and_changes_adds_and_removes_windows(sphere):
    # given: windows for A and B
    group_a, group_b, group_c = (
        GroupFactory(sphere=sphere, name=name) for name in ("A", "B", "C")
    )
    evaluation = EvaluationFactory(sphere=sphere, name="Blanc")
    kept = EvaluationWindowFactory(evaluation=evaluation, group=group_a)
    EvaluationWindowFactory(evaluation=evaluation, group=group_b)
    # when: A moves, B goes, C comes
    services.evaluation_update(
        evaluation=evaluation,
        name=" Blanc de juin ",
        windows=[
            (group_a, JUNE_3, JUNE_3 + dt.timedelta(hours=2)),
            (group_c, JUNE_3 + dt.timedelta(days=1), JUNE_3 + dt.timedelta(days=2)),
        ],
    )
    # then
    evaluation.refresh_from_db()
    assert evaluation.name == "Blanc de juin"
    windows = {w.group.name: w for w in evaluation.windows.select_related("group")}
    assert set(windows) == {"A", "C"}
    assert windows["A"].pk == kept.pk
    assert (windows["A"].starts_at, windows["A"].ends_at) == (
        JUNE_3,
        JUNE_3 + dt.timedelta(hours=2),
    )
    assert windows["C"].starts_at == JUNE_3 + dt.timedelta(days=1)


def test_evaluation_update_refuses_an_end_before_the_start(sphere):
    # given
    group = GroupFactory(sphere=sphere, name="A")
    window = EvaluationWindowFactory(
        evaluation=EvaluationFactory(sphere=sphere), group=group
    )
    # when
    with pytest.raises(services.ServiceError) as refused:
        services.evaluation_update(
            evaluation=window.evaluation,
            name="Blanc",
            windows=[(group, JUNE_3, JUNE_3 - dt.timedelta(hours=1))],
        )
    # then
    assert str(refused.value) == "Pour « A », la fin doit être après le début."
    assert EvaluationWindow.objects.get() == window
    assert EvaluationWindow.objects.get().starts_at == window.starts_at


def test_evaluation_update_refuses_the_name_of_another_evaluation(sphere):
    # given
    group = GroupFactory(sphere=sphere)
    EvaluationFactory(sphere=sphere, name="Final")
    evaluation = EvaluationFactory(sphere=sphere, name="Blanc")
    # when
    with pytest.raises(services.ServiceError) as refused:
        services.evaluation_update(
            evaluation=evaluation,
            name="Final",
            windows=[(group, JUNE_3, JUNE_3 + dt.timedelta(hours=1))],
        )
    # then
    assert (
        str(refused.value) == "Une évaluation « Final » existe déjà dans cette sphère."
    )
    evaluation.refresh_from_db()
    assert evaluation.name == "Blanc"
    assert not evaluation.windows.exists()


def test_evaluation_update_keeps_its_own_name(sphere):
    # given
    group = GroupFactory(sphere=sphere)
    evaluation = EvaluationFactory(sphere=sphere, name="Blanc")
    # when
    services.evaluation_update(
        evaluation=evaluation,
        name="Blanc",
        windows=[(group, JUNE_3, JUNE_3 + dt.timedelta(hours=1))],
    )
    # then
    assert evaluation.windows.count() == 1


def test_evaluation_update_refuses_to_remove_a_window_an_active_communication_uses(
    sphere,
):
    # given: « Annonce A » announces the evaluation to group A
    group_a, group_b = (GroupFactory(sphere=sphere, name=name) for name in "AB")
    evaluation = EvaluationFactory(sphere=sphere, name="Blanc")
    EvaluationWindowFactory(evaluation=evaluation, group=group_a)
    window_b = EvaluationWindowFactory(evaluation=evaluation, group=group_b)
    _announcement(evaluation, name="Annonce A", groups=[group_a])
    _deactivated(
        sphere=sphere,
        kind=Communication.Kind.EVALUATION,
        evaluation=evaluation,
        max_minutes=None,
        minutes_days=None,
        max_level=None,
        groups=[group_a],
    )
    # when: A's window would go
    with pytest.raises(services.ServiceError) as refused:
        services.evaluation_update(
            evaluation=evaluation,
            name="Blanc modifié",
            windows=[(group_b, window_b.starts_at, window_b.ends_at)],
        )
    # then: nothing changed, and the message names the communication
    assert str(refused.value) == (
        "Impossible de retirer le créneau du groupe « A » : la communication active "
        "« Annonce A » annonce cette évaluation à ce groupe. Modifiez-la pour retirer "
        "ce groupe, ou désactivez-la, avant de retirer ce créneau."
    )
    evaluation.refresh_from_db()
    assert evaluation.name == "Blanc"
    assert evaluation.windows.count() == 2


def test_evaluation_update_refuses_to_remove_a_window_of_an_all_groups_announcement(
    sphere,
):
    # given: an announcement made before the groups were chosen goes to every group
    group_a, group_b = (GroupFactory(sphere=sphere, name=name) for name in "AB")
    evaluation = EvaluationFactory(sphere=sphere)
    window_a = EvaluationWindowFactory(evaluation=evaluation, group=group_a)
    EvaluationWindowFactory(evaluation=evaluation, group=group_b)
    _announcement(evaluation, name="Annonce à tous")
    # when / then
    with pytest.raises(services.ServiceError, match="« Annonce à tous »"):
        services.evaluation_update(
            evaluation=evaluation,
            name=evaluation.name,
            windows=[(group_a, window_a.starts_at, window_a.ends_at)],
        )
    assert evaluation.windows.count() == 2


def test_evaluation_update_removes_a_window_no_active_communication_uses(sphere):
    # given: the announcement targets A only; B's window is free
    group_a, group_b = (GroupFactory(sphere=sphere, name=name) for name in "AB")
    evaluation = EvaluationFactory(sphere=sphere)
    window_a = EvaluationWindowFactory(evaluation=evaluation, group=group_a)
    EvaluationWindowFactory(evaluation=evaluation, group=group_b)
    _announcement(evaluation, groups=[group_a])
    # when
    services.evaluation_update(
        evaluation=evaluation,
        name=evaluation.name,
        windows=[(group_a, window_a.starts_at, window_a.ends_at)],
    )
    # then
    assert list(evaluation.windows.values_list("group__name", flat=True)) == ["A"]


def test_later_sends_read_the_new_window_after_an_edit(sphere):
    # given: a learner of group A, announced the evaluation
    group = GroupFactory(sphere=sphere)
    learner = LearnerFactory(sphere=sphere, groups=[group])
    evaluation = EvaluationWindowFactory(
        evaluation=EvaluationFactory(sphere=sphere), group=group
    ).evaluation
    communication = _announcement(evaluation, groups=[group])
    # when: the evaluation moves
    services.evaluation_update(
        evaluation=evaluation,
        name=evaluation.name,
        windows=[(group, JUNE_3, JUNE_3 + dt.timedelta(hours=3))],
    )
    # then: what the sending engine reads at dispatch is the new window
    spec = communication_selectors.AudienceSpec.of(communication)
    assert communication_selectors.learner_window(spec, learner_id=learner.pk) == (
        JUNE_3,
        JUNE_3 + dt.timedelta(hours=3),
    )


# --- The sphere's settings ------------------------------------------------------------


def test_sphere_settings_update_writes_the_three_settings_only(sphere):
    # given: the defaults
    name = sphere.name
    # when
    services.sphere_settings_update(
        sphere=sphere,
        school_zone="B",
        holiday_subdivision="6AE",
        one_reminder_per_day=False,
    )
    # then
    sphere.refresh_from_db()
    assert (
        sphere.school_zone,
        sphere.holiday_subdivision,
        sphere.one_reminder_per_day,
        sphere.name,
    ) == ("B", "6AE", False, name)


def test_sphere_settings_update_refuses_a_zone_that_does_not_exist(sphere):
    from django.core.exceptions import ValidationError

    # when / then
    with pytest.raises(ValidationError):
        services.sphere_settings_update(
            sphere=sphere,
            school_zone="D",
            holiday_subdivision="",
            one_reminder_per_day=True,
        )
    sphere.refresh_from_db()
    assert sphere.school_zone == ""
