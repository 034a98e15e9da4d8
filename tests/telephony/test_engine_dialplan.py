"""The engine's cache of dial plans (telephony/engine/dialplan.py Dialplans): a plan read while a
change was announced is not kept, so the change is not lost for the plan's lifetime (a phone that
registers makes the engine read its company's plan; the operator changing a forwarding meanwhile
must not leave the old plan cached)."""

from __future__ import annotations

from telephony.engine.dialplan import Dialplans, load_plan


class Announcing:
    """The engine's database, but the directory announces a change while the plan is being read."""

    def __init__(self):
        self.plans: Dialplans | None = None

    def run(self, work, *args):
        plan = work(*args)
        self.plans.invalidate(f"room {args[0]}")  # (the change lands after the rows were read)
        return plan


class Quiet:
    def run(self, work, *args):
        return work(*args)


def test_a_plan_read_while_a_change_was_announced_is_used_once_but_not_kept(world):
    database = Announcing()
    plans = database.plans = Dialplans(database=database)
    plan = plans.load(world.client_a1.pk)
    assert plan.client == world.client_a1.pk  # (the call that asked gets it)
    assert plans.cached(world.client_a1.pk) is None  # the next one reads the plan again
    quiet = Dialplans(database=Quiet())
    quiet.load(world.client_a1.pk)
    assert quiet.cached(world.client_a1.pk) == load_plan(world.client_a1.pk)
