#!/usr/bin/python3
"""Runtime benchmark: Refit's pure-Go ONNX runtime vs ONNX Runtime (onnxruntime-node), in one run.

Usage: /usr/bin/python3 bench/runtime.py [--runs 20] [--warmup 3] [--models a,b,...]
                                         [--threads 1,2] [--cache DIR] [--mnist-batch 32]

Models (exported by testdata/gen/ort_models.py into the same cache folder the
interop/ort tests use, $TMPDIR/refit-ort-models-<generator hash>):
  resnet18_op13      ResNet-18, 1x3x224x224 (BatchNorm folded by the exporter)
  transformer_op17   4-layer transformer encoder, d_model 256, 1x128 token ids
  mnist_cnn          testdata/models/mnist/mnist_cnn.onnx, batch --mnist-batch
  mnist_cnn_qdq      mnist_cnn quantized by `refit quantize --method static --format qdq`
                     (QuantizeLinear/DequantizeLinear around float Conv/Gemm), batch --mnist-batch
  mnist_cnn_qop      the same as QOperator (QLinearConv, QLinearMatMul), batch --mnist-batch
  transformer_dyn    transformer_op17 quantized by `refit quantize --method dynamic`
                     (DynamicQuantizeLinear + MatIntegerMul per MatMul)
  resnet18_b16       resnet18_op13 at batch 16 (the bench rewrites the batch dimension)
Each model is loaded once per engine and thread count; --warmup untimed runs precede
--runs timed runs, timing only the run call (Refit: Session.Run in bench/runtime/main.go;
ORT: session.run in interop/ort/ort_run.js). Both get the same seeded inputs (the Go
program dumps them as .npy). Refit's threads are -threads (runtime.Options.Threads) with
GOMAXPROCS set to match; ORT's are intraOpNumThreads
(interOpNumThreads 1, graphOptimizationLevel "all"). Prints median latency per engine and
the ratio Refit/ORT (below 1 means Refit is faster), and the same for the fastest run,
which is steadier than the median on a loaded machine, and the CPU time per run (all
threads; it counts work, not waiting for a core, so it is the fairest figure when other
processes compete for the cores), and each process's peak RSS measured by GNU time
(/usr/bin/time -f %M) with the weights and Refit's peak tensor memory beside it.
Refit and ORT alternate per model and thread count. Needs go, node, /usr/bin/python3
with onnx (to rebatch ResNet-18), and onnxruntime-node in node_modules.
"""
import argparse, hashlib, json, os, subprocess, sys, tempfile
import machine  # bench/machine.py: the CPU line every table starts with

ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=20)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--models", default="resnet18_op13,resnet18_b16,transformer_op17,mnist_cnn,"
                "mnist_cnn_qdq,mnist_cnn_qop,transformer_dyn")
ap.add_argument("--threads", default="1,2")
ap.add_argument("--cache", default="", help="model folder (default: the interop tests' cache)")
ap.add_argument("--mnist-batch", type=int, default=32)
ap.add_argument("--json", action="store_true", help="print the raw results as JSON too")
a = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
gen = os.path.join(root, "testdata", "gen", "ort_models.py")
node_modules = os.path.join(root, "node_modules")
if not os.path.isdir(os.path.join(node_modules, "onnxruntime-node")):
    sys.exit("bench/runtime.py: onnxruntime-node is not installed in node_modules (npm ci)")

cache = a.cache
if not cache:
    with open(gen, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    cache = os.path.join(tempfile.gettempdir(), "refit-ort-models-" + digest)
if not os.path.exists(os.path.join(cache, "models.json")):
    print(f"exporting models into {cache} ...", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="refit-ort-models-tmp", dir=os.path.dirname(cache))
    subprocess.run(["/usr/bin/python3", gen, tmp], check=True,
                   env=dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"))
    try:
        os.rename(tmp, cache)
    except OSError:
        if not os.path.exists(os.path.join(cache, "models.json")):
            raise

work = tempfile.mkdtemp(prefix="refit-runtime-bench-")
binary = os.path.join(work, "refit-runtime-bench")
subprocess.run(["go", "build", "-o", binary, "./bench/runtime"], cwd=root, check=True)
refit_cli = os.path.join(work, "refit")
subprocess.run(["go", "build", "-o", refit_cli, "./cmd/refit"], cwd=root, check=True,
               env=dict(os.environ, CGO_ENABLED="0"))

mnist_dir = os.path.join(root, "testdata", "models", "mnist")
paths = {
    "mnist_cnn": (os.path.join(mnist_dir, "mnist_cnn.onnx"), [f"batch={a.mnist_batch}"]),
}
with open(os.path.join(cache, "models.json")) as f:
    for e in json.load(f):
        paths[e["name"]] = (os.path.join(cache, e["file"]),
                            [f"{k}={v}" for k, v in (e.get("dims") or {}).items()])
models = [m for m in a.models.split(",") if m]


def quantized(name, src, flags, dims):
    out = os.path.join(work, name + ".onnx")
    subprocess.run([refit_cli, "quantize", src, out, "--force"] + flags, check=True,
                   stdout=subprocess.DEVNULL)
    paths[name] = (out, dims)


def rebatched(name, src, batch):
    # ResNet-18 exported with a fixed batch of 1: give its input and output a batch of
    # `batch` (every other shape in the graph follows at run time).
    import onnx
    m = onnx.load(src)
    for vi in list(m.graph.input) + list(m.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_value = batch
    del m.graph.value_info[:]
    out = os.path.join(work, name + ".onnx")
    onnx.save(m, out)
    paths[name] = (out, [])


calib = ["--calib", os.path.join(mnist_dir, "test.npz")]
if "mnist_cnn_qdq" in models:
    quantized("mnist_cnn_qdq", paths["mnist_cnn"][0], ["--method", "static", "--format", "qdq"] + calib,
              paths["mnist_cnn"][1])
if "mnist_cnn_qop" in models:
    quantized("mnist_cnn_qop", paths["mnist_cnn"][0], ["--method", "static", "--format", "qoperator"] + calib,
              paths["mnist_cnn"][1])
if "transformer_dyn" in models:
    quantized("transformer_dyn", paths["transformer_op17"][0], ["--method", "dynamic"], paths["transformer_op17"][1])
if "resnet18_b16" in models:
    rebatched("resnet18_b16", paths["resnet18_op13"][0], 16)
for m in models:
    if m not in paths:
        sys.exit(f"bench/runtime.py: unknown model {m}; have {', '.join(sorted(paths))}")
threads = [int(t) for t in a.threads.split(",")]

def timed(cmd, env):
    """Runs cmd under GNU time; returns (completed process, peak RSS in MiB or nan)."""
    rss_file = os.path.join(work, "rss.txt")
    if os.path.exists("/usr/bin/time"):
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    rss = float("nan")
    try:
        with open(rss_file) as f:
            rss = int(f.read().strip().splitlines()[-1]) / 1024
        os.remove(rss_file)
    except (OSError, ValueError, IndexError):
        pass
    return p, rss


# Refit and ONNX Runtime alternate per model and thread count, so both see the same
# load from whatever else runs on the machine; each run is its own process, so GNU
# time's peak RSS is that model's.
refit, ort, inputs = {}, {}, {}
for m in models:
    path, dims = paths[m]
    for t in threads:
        cmd = [binary, "-model", path, "-runs", str(a.runs), "-warmup", str(a.warmup), "-threads", str(t)]
        for d in dims:
            cmd += ["-dim", d]
        if m not in inputs:
            cmd += ["-dump-inputs", os.path.join(work, m)]
        p, rss = timed(cmd, dict(os.environ, GOMAXPROCS=str(t)))
        if p.returncode != 0:
            sys.exit(f"refit on {m}: {p.stderr.strip()}")
        r = json.loads(p.stdout)
        r["rss_mib"] = rss
        inputs.setdefault(m, r.get("inputs"))
        refit[(m, t)] = r
        spec = {"threads": t, "warmup": a.warmup, "runs": a.runs,
                "jobs": [{"model": path, "inputs": inputs[m]}]}
        spec_path = os.path.join(work, f"spec-{m}-{t}.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        p, rss = timed(["node", os.path.join(root, "interop", "ort", "ort_run.js"), spec_path],
                       dict(os.environ, NODE_PATH=node_modules))
        if p.returncode != 0:
            sys.exit(f"onnxruntime-node on {m}: {p.stderr.strip()}")
        r = json.loads(p.stdout)[0]
        r["rss_mib"] = rss
        ort[(m, t)] = r

try:
    load = os.getloadavg()[0]
except OSError:
    load = float("nan")
print(machine.cpu_line())
print(f"median latency over {a.runs} runs after {a.warmup} warm-up runs; "
      f"{os.cpu_count()} CPUs, load average {load:.1f}")
head = (f"{'model':<20}{'threads':>8}{'Refit ms':>10}{'ORT ms':>9}{'ratio':>7}"
        f"{'Refit min':>10}{'ORT min':>9}{'min ratio':>10}{'Refit CPU':>10}{'ORT CPU':>9}{'CPU ratio':>10}"
        f"{'Refit RSS':>10}{'ORT RSS':>9}{'weights':>9}{'tensors':>9}{'packed':>8}{'bound':>8}")
print(head)
print("-" * len(head))
def bound(r):
    """Goal 4: the model's weights + the session's live activations + 64 MiB, in MiB."""
    activations = r.get('peak_tensor_bytes', 0) - r.get('prepared_bytes', 0)
    return (r.get('weight_bytes', 0) + activations) / 2**20 + 64


for m in models:
    label = m if not m.startswith("mnist_cnn") else f"{m} (b{a.mnist_batch})"
    for t in threads:
        rr, orr = refit[(m, t)], ort[(m, t)]
        rm, om = rr["median_ms"], orr["median_ms"]
        rmin, omin = min(rr["times_ms"]), min(orr["times_ms"])
        rc, oc = rr["cpu_ms"], orr["cpu_ms"]
        print(f"{label:<20}{t:>8}{rm:>10.2f}{om:>9.2f}{rm / om:>7.2f}"
              f"{rmin:>10.2f}{omin:>9.2f}{rmin / omin:>10.2f}"
              f"{rc:>10.2f}{oc:>9.2f}{rc / max(oc, 1e-9):>10.2f}"
              f"{rr['rss_mib']:>10.1f}{orr['rss_mib']:>9.1f}"
              f"{rr.get('weight_bytes', 0) / 2**20:>9.1f}{rr.get('peak_tensor_bytes', 0) / 2**20:>9.1f}"
              f"{rr.get('prepared_bytes', 0) / 2**20:>8.1f}{bound(rr):>7.1f}{'' if rr['rss_mib'] <= bound(rr) else '!'}")
print("RSS: peak resident MiB of the process (GNU time); weights: the model's initializers, MiB;\n"
      "tensors: the most Refit's session held at once (packed weights, activations, pooled buffers), MiB;\n"
      "packed: the weights packed or transformed for the kernels among them, MiB;\n"
      "bound: the memory goal, weights + (tensors - packed) + 64 MiB; '!' marks an RSS above it.")
if a.json:
    print(json.dumps({"refit": {f"{m}/{t}": r for (m, t), r in refit.items()},
                      "ort": {f"{m}/{t}": r for (m, t), r in ort.items()}}, indent=1))
subprocess.run(["rm", "-rf", work])
