"""Formal learning for a simulated organisation: the xAPI Statements its LMS sends while people take courses.

Some people enrol in one or two of the catalogue's courses; each enrolment launches the course, experiences some
modules, answers quiz items, and most end in a completed attempt, passed or failed, a few days later. Learners are
named as the LMS names them: an account on the LMS whose name is the person's handle, which the directory lists as
their LMS account (simulator/organisation.py), so they resolve to the same pseudonym as in chat. Ids and times
come from the seed: the same organisation sends the same Statements.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from simulator.organisation import Member, Organisation

ADL = "http://adlnet.gov/expapi/verbs/"
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
MODULE_TYPE = "http://adlnet.gov/expapi/activities/module"
QUESTION_TYPE = "http://adlnet.gov/expapi/activities/cmi.interaction"
CATALOGUE = (
    "Secure coding basics",
    "Data privacy at work",
    "Writing good documentation",
    "Incident response",
    "Giving feedback",
    "Kubernetes for developers",
)
#: The namespace of the simulated Statements' ids.
IDS = uuid.UUID("4b1e2f60-8c3d-5a7e-9f12-6d0c4a3b2e18")


@dataclass(frozen=True)
class Lms:
    """The simulated LMS: where its accounts and activities live."""

    home_page: str

    def course_id(self, number: int) -> str:
        return f"{self.home_page}/course/view.php?id={number}"


def lms_of(org: Organisation) -> Lms:
    return Lms(f"https://lms.{org.domain}")


def course_statements(org: Organisation, days: int, seed: int, first: date, share: float = 0.4) -> list[dict[str, Any]]:
    """The Statements of `share` of the employees taking courses over `days` from `first`, in time order."""
    rng = random.Random(f"courses-{seed}")
    lms = lms_of(org)
    statements: list[dict[str, Any]] = []
    learners = [member for member in org.employees if rng.random() < share]
    for member in learners:
        for number in rng.sample(range(len(CATALOGUE)), rng.choice((1, 1, 2))):
            statements += enrolment(rng, lms, member, number, first, days)
    statements.sort(key=lambda statement: (statement["timestamp"], statement["id"]))
    return statements


def enrolment(
    rng: random.Random, lms: Lms, member: Member, number: int, first: date, days: int
) -> list[dict[str, Any]]:
    """One person's way through one course: launched, modules, quiz items, and usually a completed attempt."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC) + timedelta(
        days=rng.randrange(max(days - 3, 1)), hours=rng.randint(8, 16), minutes=rng.randrange(60)
    )
    actor = {
        "objectType": "Agent",
        "name": member.real_name,
        "account": {"homePage": lms.home_page, "name": member.handle},
    }
    course = {
        "objectType": "Activity",
        "id": lms.course_id(number + 1),
        "definition": {"type": COURSE_TYPE, "name": {"en": CATALOGUE[number]}},
    }
    context = {"platform": "Simulated LMS", "contextActivities": {"grouping": [course]}}
    made: list[dict[str, Any]] = []
    when = start

    def say(verb: str, target: dict[str, Any], **more: Any) -> None:
        nonlocal when
        when += timedelta(minutes=rng.randint(2, 40))
        key = f"{member.person_id}|{number}|{len(made)}"
        made.append(
            {
                "id": str(uuid.uuid5(IDS, key)),
                "actor": actor,
                "verb": {"id": ADL + verb, "display": {"en": verb}},
                "object": target,
                "context": context,
                "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                **more,
            }
        )

    say("launched", course)
    for module in range(rng.randint(1, 4)):
        target = {
            "id": f"{course['id']}&module={module + 1}",
            "definition": {"type": MODULE_TYPE, "name": {"en": f"{CATALOGUE[number]}, part {module + 1}"}},
        }
        say("experienced", target)
    if rng.random() < 0.8:
        scores = []
        for item in range(rng.randint(2, 5)):
            correct = rng.random() < 0.75
            scores.append(correct)
            question = {
                "id": f"{course['id']}&question={item + 1}",
                "definition": {
                    "type": QUESTION_TYPE,
                    "interactionType": "true-false",
                    "correctResponsesPattern": ["true"],
                },
            }
            say("answered", question, result={"response": "true" if correct else "false", "success": correct})
        passed = sum(scores) / len(scores) >= 0.6
        when += timedelta(days=rng.randint(0, 2))
        score = {"scaled": round(sum(scores) / len(scores), 2)}
        say("completed", course, result={"completion": True, "success": passed, "score": score})
        say("passed" if passed else "failed", course, result={"success": passed, "score": score})
    return made
