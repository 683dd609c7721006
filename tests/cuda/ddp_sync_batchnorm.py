"""cuda_emulated_ddp_sync_batchnorm: trainer.sync_batchnorm on GPUs, 2 ranks on the CUDA emulator
(each with an emulated GPU of its own, NCCL over MPI) with batch B, against 1 CPU process with
batch 2B and plain BatchNorms (tests/e2e/sync_batchnorm_model.py says why they train alike): every epoch's
checkpointed weights and running statistics within 1e-5 of each tensor's largest value.
Lightning cannot be the oracle here: torch's SyncBatchNorm refuses CPU tensors."""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import common  # noqa: E402
import gpu_parity  # noqa: E402
import sync_batchnorm_model as model  # noqa: E402
from common import check  # noqa: E402


def main():
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    os.chdir(work)  # the specs' data paths are relative to it
    model.write_data(work)
    specs = {}
    for name, accelerator, devices, batch, sync in (("sync_gpu", "gpu", 2, model.B, True),
                                                    ("single_bn", "cpu", 1, 2 * model.B, False)):
        specs[name] = os.path.join(work, name + ".json")
        with open(specs[name], "w") as f:
            json.dump(model.spec(name, accelerator, devices, batch, sync), f, indent=1)
    gpu = gpu_parity.build_emulated(argparse.Namespace(**{**vars(args), "spec": specs["sync_gpu"]}), "sync_gpu",
                                    os.path.join(work, "sync_gpu"))
    single = common.generate(args.ltgen, specs["single_bn"], os.path.join(work, "single_bn"))
    os.environ["LTGEN_CUDA_EMULATOR_DEVICES"] = "2"  # a GPU for each rank (mpirun passes the environment on)
    runs = {}
    for name, program, processes in (("sync_gpu", gpu, 2), ("single_bn", single, 1)):
        root = os.path.join(work, "fit_" + name)
        shutil.rmtree(root, ignore_errors=True)  # a fresh lightning_logs/version_0
        rc, out, err = common.run_program(program, ["fit", "--init_weights=" + os.path.join(work, "sbn_init.safetensors"),
                                                    "--trainer.default_root_dir=" + root],
                                          timeout=600, launch=common.launcher(processes))
        check(rc == 0, f"{name} fit exited with {rc}:\n{out}\n{err}")
        if name == "sync_gpu":
            said = "GPU available: True (cuda), used: True: 2 processes, one a GPU"
            check(said in err, f"the program does not say it trains its ranks on GPUs ({said!r}):\n{err}")
        runs[name] = os.path.join(common.only_version_dir(root), "checkpoints")
    worst = model.worst_difference(runs["sync_gpu"], runs["single_bn"], work)
    check(worst <= 1e-5, f"2 emulated GPUs x {model.B} and 1 CPU process x {2 * model.B}: a checkpointed tensor "
                         f"differs by {worst:.3g} of its largest value")
    print(f"{model.EPOCHS} epochs' weights and running statistics agree; worst difference {worst:.3g} of a tensor's "
          "largest value")


parser = argparse.ArgumentParser()
parser.add_argument("--ltgen", required=True)
parser.add_argument("--emulator", required=True, help="libltgen_cuda_emulator.a")
parser.add_argument("--source", required=True, help="the ltgen source tree")
parser.add_argument("--work", required=True)
args = parser.parse_args()
common.main(main)
