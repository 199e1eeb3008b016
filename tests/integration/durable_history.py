"""Orchestration contexts as the Durable extension sends them to an orchestrator function: the instance, its
input and its history, episode by episode (the shape `azure.durable_functions` reads, as its own tests build it:
OrchestratorStarted, ExecutionStarted, the tasks scheduled, OrchestratorCompleted; then, for each later episode,
OrchestratorStarted and the events that arrived since). As the extension does, `IsPlayed` marks the events an
earlier episode saw; the library's own test builder marks ExecutionStarted played even in the first episode, which
makes the library report that episode's first step as a replay, where the host's history does not."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

# azure.durable_functions.models.history.HistoryEventType
EXECUTION_STARTED, TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 0, 4, 5, 6
ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED = 12, 13


class History:
    """One orchestration instance's history; `context()` is what its next episode is invoked with."""

    def __init__(self, name: str, input_: Any = None, instance_id: str | None = None) -> None:
        self.name = name
        self.input = input_
        self.instance_id = instance_id or uuid.uuid4().hex
        self.events: list[dict[str, Any]] = []
        self._clock = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        self._event(ORCHESTRATOR_STARTED)
        self._event(EXECUTION_STARTED, Name=name, Version="", Input=json.dumps(input_))

    def _event(self, event_type: int, event_id: int = -1, **fields: Any) -> None:
        self._clock += dt.timedelta(seconds=1)
        event = {
            "EventType": event_type,
            "EventId": event_id,
            "IsPlayed": False,
            "Timestamp": self._clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        event.update(fields)
        self.events.append(event)

    def scheduled(self, activity: str, task_id: int) -> History:
        """The episode that just ran scheduled `activity` as task `task_id`, and ended."""
        self._event(TASK_SCHEDULED, task_id, Name=activity, Version="")
        return self

    def completed(self, task_id: int, result: Any) -> History:
        """A new episode starts: task `task_id` completed with `result`."""
        self._end_episode()
        self._event(TASK_COMPLETED, TaskScheduledId=task_id, Result=json.dumps(result))
        return self

    def failed(self, task_id: int, reason: str) -> History:
        self._end_episode()
        self._event(TASK_FAILED, TaskScheduledId=task_id, Reason=reason, Details="")
        return self

    def _end_episode(self) -> None:
        # The previous episode's events were seen: the host marks them played.
        for event in self.events:
            event["IsPlayed"] = True
        self._event(ORCHESTRATOR_COMPLETED, IsPlayed=True)
        self._event(ORCHESTRATOR_STARTED)

    def context(self) -> dict[str, Any]:
        return {
            "history": json.loads(json.dumps(self.events)),
            "instanceId": self.instance_id,
            "isReplaying": any(e["IsPlayed"] for e in self.events[2:]),
            "parentInstanceId": None,
            "input": json.dumps(self.input),
            "upperSchemaVersion": 0,
        }
