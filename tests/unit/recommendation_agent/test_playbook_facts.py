"""Facts about playbooks: stated actions, actions of a runbook's commands, and the clauses built from them."""

from __future__ import annotations

import copy
from importlib import resources

import pytest
import yaml
from pydantic import ValidationError

from playbooks_contracts.messages import RunbookCompiled
from playbooks_contracts.recommendation import PLAYBOOK_ACTIONS, PlaybookDocument
from recommendation_agent.intent import rules_intent
from recommendation_agent.library import library_by_key, load_library
from recommendation_agent.playbook_actions import command_action, playbook_actions, runbook_actions
from recommendation_agent.reasons import facts_of, intent_fit, weakness
from recommendation_agent.worker import runbook_document


def test_every_library_playbook_states_its_primary_action():
    for p in load_library():
        meta = p.raw["metadata"]
        assert meta["primary_action"] in PLAYBOOK_ACTIONS, meta["playbook_id"]
        assert meta["primary_action"] not in meta["other_actions"]
        assert playbook_actions(p.raw) == ([meta["primary_action"], *meta["other_actions"]], "metadata")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["kubectl", "rollout", "undo", "deploy/web", "-n", "shop"], ("write", "rollback")),
        (["kubectl", "-n", "shop", "rollout", "restart", "deploy/web"], ("write", "restart")),
        (["kubectl", "get", "pods", "-A"], ("read", None)),
        (["kubectl", "drain", "node-1", "--ignore-daemonsets"], ("write", "drain")),
        (["oc", "adm", "drain", "node-1"], ("write", "drain")),
        (["aws", "rds", "stop-db-instance", "--db-instance-identifier", "db1"], ("write", "stop")),
        (["aws", "rds", "create-db-snapshot", "--db-instance-identifier", "db1"], ("write", "backup")),
        (["aws", "ec2", "delete-snapshot", "--snapshot-id", "s"], ("write", "delete")),
        (["aws", "lambda", "put-function-concurrency", "--function-name", "f"], ("write", "throttle")),
        (["aws", "ec2", "describe-instances"], ("read", None)),
        (["az", "vm", "deallocate", "-g", "rg", "-n", "vm1"], ("write", "stop")),
        (["gcloud", "container", "clusters", "resize", "c1", "--num-nodes", "0"], ("write", "scale")),
        (["sudo", "systemctl", "restart", "nginx"], ("write", "restart")),
        (["helm", "rollback", "web", "3"], ("write", "rollback")),
        (["etcdctl", "snapshot", "save", "/tmp/s.db"], ("write", "backup")),
        (["kubectl", "label", "node", "n1", "x=y"], ("write", None)),  # a write the vocabulary has no word for
        (["nginx", "-t"], ("unknown", None)),
    ],
)
def test_command_actions_come_from_the_ontology(argv, expected):
    assert command_action(argv) == expected


def golden(name: str) -> dict:
    return yaml.safe_load((resources.files("compiler") / "golden" / f"{name}.runbook.yaml").read_text())


def test_compiled_runbooks_do_what_their_commands_do():
    assert runbook_actions(golden("k8s-crashloop"))[0] == "restart"
    assert runbook_actions(golden("postgres-replication-lag")) == ["diagnose"]
    assert runbook_actions(golden("windows-iis-apppool")) == []  # PowerShell only: no claim at all
    manual = {"steps": [{"id": "m", "type": "manual", "title": "t", "instructions": "Run:\n$ kubectl drain n1"}]}
    assert runbook_actions(manual) == ["drain"]
    assert runbook_actions({"steps": "not a list"}) == [] and runbook_actions(None) == []


def test_the_worker_stores_the_commands_action_not_the_titles():
    runbook = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "Stop the web tier", "governance": {"allowed_commands": ["kubectl"]}},
        "steps": [
            {"id": "look", "type": "cli", "title": "Stop everything", "with": {"argv": ["kubectl", "get", "po"]}}
        ],
    }
    data = RunbookCompiled(playbook_id="stop-web", version="1.0.0", name="Stop the web tier", runbook=runbook)
    meta = runbook_document(data).metadata
    assert meta.primary_action == "diagnose" and meta.other_actions == []


def test_a_playbook_stating_nothing_speaks_only_through_its_name():
    doc = copy.deepcopy(library_by_key()[("aws-ec2-start-by-tag", "1.0.0")].raw)
    del doc["metadata"]["primary_action"]
    doc["metadata"]["name"] = "EC2 housekeeping"
    facts = facts_of(doc)
    assert facts.actions == () and facts.action_source is None
    fit = intent_fit(rules_intent("stop the ec2 instances"), facts)
    assert not any("stop" in c or "start" in c for c in fit.agrees + fit.differs)
    doc["metadata"]["name"] = "Nightly EC2 shutdown"
    fit = intent_fit(rules_intent("stop the ec2 instances"), facts_of(doc))
    assert "its name says 'stop'" in fit.agrees


def test_the_issue_case_is_a_difference_and_weak():
    intent = rules_intent("stop idle dev EC2 instances over the weekend")
    start = facts_of(library_by_key()[("aws-ec2-start-by-tag", "1.0.0")].raw)
    fit = intent_fit(intent, start)
    assert "does 'stop'" not in fit.agrees and fit.differs == ["does 'start', not 'stop'"]
    assert weakness(intent, fit, 0.6, 0.5) == ["it does 'start', the request asks to 'stop'"]
    stop = intent_fit(intent, facts_of(library_by_key()[("aws-ec2-stop-idle", "1.0.0")].raw))
    assert stop.agrees[:3] == ["does 'stop'", "on ec2::instance", "for aws"] and not stop.differs


@pytest.mark.parametrize(
    ("query", "action", "other"),
    [
        ("stop idle Oracle Cloud compute instances", "stop", ["Oracle Cloud"]),
        ("power off DigitalOcean droplets at night", "stop", ["DigitalOcean"]),
        ("public ip addresses sitting idle cost us money", "delete", []),
        ("turn off idle virtual machines in azure", "stop", []),
        ("the new release is throwing 500s, go back to the old one", "rollback", []),
        ("gke nodes NotReady, troubleshoot", "diagnose", []),
    ],
)
def test_intent_rules(query, action, other):
    intent = rules_intent(query)
    assert intent.action == action and intent.other_clouds == other


def test_a_request_naming_nothing_is_weak_unless_the_text_is_close():
    intent = rules_intent("qwertz blorp frobnicate")
    facts = facts_of(library_by_key()[("aws-rds-stop", "1.0.0")].raw)
    fit = intent_fit(intent, facts)
    assert weakness(intent, fit, 0.1, 0.0) == ["it shares too little with the request's words"]
    assert weakness(intent, fit, 0.5, 0.0) == []
    assert weakness(intent, fit, None, 0.5) == []  # without vectors, the keyword share decides


@pytest.mark.parametrize(
    "meta",
    [{"primary_action": "obliterate"}, {"primary_action": "stop; rm -rf /"}, {"other_actions": ["stop"] * 6}],
)
def test_a_published_action_outside_the_vocabulary_is_refused(meta):
    doc = copy.deepcopy(library_by_key()[("aws-rds-stop", "1.0.0")].raw)
    doc["metadata"].update(meta)
    with pytest.raises(ValidationError, match=r"primary_action|other_actions"):
        PlaybookDocument.model_validate(doc)
