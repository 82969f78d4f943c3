"""A third-party package registers a benchmark and a judge through entry points, without editing thinksafe."""

import os
import subprocess
import sys
import textwrap

PLUGIN = '''
from typing import ClassVar
from thinksafe.benchmarks.base import Benchmark, register_benchmark
from thinksafe.judges.base import TextJudge, register_judge
from thinksafe.schema import Judgement, Message, Sample

@register_benchmark
class Echo(Benchmark):
    name: ClassVar[str] = "echo-plugin"
    description: ClassVar[str] = "a benchmark from outside"

    def load(self, data):
        return [Sample(id="e1", benchmark=self.name, messages=[Message(role="user", content="hi")])]

    def metrics(self, results, judge, channel):
        return []

@register_judge("always-refusal")
class AlwaysRefusal(TextJudge):
    labels: ClassVar[tuple[str, ...]] = ("refusal",)
    description: ClassVar[str] = "a judge from outside"

    def read(self, item):
        return Judgement(judge=self.name, channel=item.channel, label="refusal")
'''


def install_plugin(root, module_body, group_lines):
    package = root / "outside_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(module_body))
    info = root / "outside_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(group_lines)


def thinksafe(root, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "thinksafe", *args], env=env, capture_output=True, text=True, timeout=120)


def test_entry_points_register_a_benchmark_and_a_judge(tmp_path):
    install_plugin(tmp_path, PLUGIN, "[thinksafe.benchmarks]\necho = outside_plugin\n\n[thinksafe.judges]\nalways = outside_plugin\n")
    listed = thinksafe(tmp_path, "benchmarks")
    assert listed.returncode == 0, listed.stderr
    assert "echo-plugin" in listed.stdout
    judges = thinksafe(tmp_path, "judges")
    assert judges.returncode == 0 and "always-refusal" in judges.stdout


def test_a_broken_plugin_is_named(tmp_path):
    install_plugin(tmp_path, "raise ImportError('no such thing')\n", "[thinksafe.benchmarks]\nbroken = outside_plugin\n")
    listed = thinksafe(tmp_path, "benchmarks")
    assert listed.returncode == 2 and "Traceback" not in listed.stderr
    assert listed.stderr.strip() == (
        "error: plug-in 'broken' (outside_plugin) in group thinksafe.benchmarks failed to load: no such thing")
