"""The server-wide thread policy: CNNVIZ_THREADS / CNNVIZ_REPLICAS -> torch.set_num_threads, applied once."""
import os
import subprocess
import sys

import pytest

from cnnviz.core.device import thread_policy


@pytest.mark.parametrize("env,cores,threads,source", [
    ({}, 8, 8, "cores/replicas"),
    ({"CNNVIZ_REPLICAS": "2"}, 8, 4, "cores/replicas"),
    ({"CNNVIZ_REPLICAS": "3"}, 8, 2, "cores/replicas"),  # floor: never more threads than the share
    ({"CNNVIZ_REPLICAS": "4"}, 2, 1, "cores/replicas"),  # at least one thread
    ({"CNNVIZ_THREADS": "3", "CNNVIZ_REPLICAS": "4"}, 2, 3, "CNNVIZ_THREADS"),
])
def test_policy_from_environment(env, cores, threads, source):
    p = thread_policy(env, cores=cores)
    assert (p.threads, p.source, p.cores) == (threads, source, cores)
    assert f"{threads} thread" in p.describe()


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_values_name_the_variable(bad):
    with pytest.raises(ValueError, match="CNNVIZ_THREADS"):
        thread_policy({"CNNVIZ_THREADS": bad}, cores=4)



@pytest.mark.parametrize("env", [{"CNNVIZ_THREADS": "1"}, {"CNNVIZ_REPLICAS": "2"}])
def test_applied_once_in_a_fresh_process(env):
    """A new process (a replica) gets the policy's thread count from torch itself; a second call changes nothing."""
    code = ("import torch\nfrom cnnviz.core.device import apply_thread_policy\n"
            "p = apply_thread_policy()\nprint(p.threads, torch.get_num_threads(), p.cores)\n"
            "torch.set_num_threads(3)\nprint(apply_thread_policy().threads)\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("CNNVIZ_THREADS", "CNNVIZ_REPLICAS")}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    policy, torch_threads, cores, again = (int(v) for v in out)
    want = 1 if "CNNVIZ_THREADS" in env else max(1, cores // 2)
    assert policy == torch_threads == want
    assert again == want  # memoised: the first application is the policy of the process
