"""SpiffWorkflow's parser as Shubbak uses it (SpiffArena's extensions: forms, lanes, DMN)."""

from __future__ import annotations

from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser


class ShubbakParser(SpiffBpmnParser):
    """No XSD validation here: the XML was parsed safely before, and the checks that matter for running
    (scripts, forms, lanes, executable process) are made by ``compiler`` with element-level messages."""
