"""Scheduled runs whose process died are marked Crashed, so the next one is not blocked.

A runner (`seqarena serve`) marks a flow run Crashed when the run's process exits badly.
When the runner dies too (the machine, the container or the process group killed), nobody
is left to say so: the run stays "Running" and holds the deployment's concurrency slot.
Prefect's answer is flow-run heartbeats plus an automation that marks a run Crashed when
its heartbeats stop (docs.prefect.io, "Detect zombie flows"); `seqarena serve` turns both on.
"""

from __future__ import annotations

import os
from datetime import timedelta

from prefect.automations import Automation
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

NAME = "seqarena: crash flow runs whose heartbeats stopped"
HEARTBEAT_S = 30  # Prefect emits flow-run heartbeats at this period (30 s is its minimum)
CRASH_AFTER_S = 90  # three missed heartbeats
FINAL = ("Completed", "Failed", "Cancelled", "Crashed")


def zombie_automation(flow_name: str, after_s: int = CRASH_AFTER_S) -> Automation:
    """The automation: a run of `flow_name` with no heartbeat or end for `after_s` crashes."""
    return Automation(
        name=NAME, description=f"Marks runs of {flow_name} Crashed when their process is gone.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in FINAL)},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification({"prefect.resource.role": "flow",
                                                 "prefect.resource.name": flow_name}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive, threshold=1, within=timedelta(seconds=after_s)),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"No heartbeat for {after_s} s: the flow run's process is gone.")],
    )


def enable_zombie_detection(flow_name: str, after_s: int = CRASH_AFTER_S) -> Automation:
    """Turn on heartbeats for the runs this process starts, and create (or update) the
    automation on the Prefect server."""
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_S))
    wanted = zombie_automation(flow_name, after_s)
    try:
        existing = Automation.read(name=NAME)
    except ValueError:
        return wanted.create()
    wanted.id = existing.id
    wanted.update()
    return wanted
