#!/usr/bin/python3
"""ONNX quantization benchmark: refit quantize time, file size and ONNX Runtime latency, in one run.

Usage: /usr/bin/python3 bench/quantize_onnx.py [--runs 30] [--runs1 300] [--warmup 5]
                                               [--models mnist_cnn,digits_mlp,mlp1024]
                                               [--no-per-layer] [--dir DIR] [--refit BIN] [--json]

Models:
  mnist_cnn   testdata/models/mnist/mnist_cnn.onnx, data testdata/models/quant/mnist_{calib,eval}.npz
  digits_mlp  testdata/models/quant/digits_mlp.onnx, data testdata/models/quant/digits_{calib,eval}.npz
  mlp1024     generated here (torch, seed 0): 4 Linear layers 1024 -> 1024 with ReLU between,
              exported to ONNX (opset 13, dynamic batch); calibration 256 and eval 512 rows of
              seeded standard-normal inputs saved as .npz. Int8 kernels have real work to do here.
For every model and method
  dynamic             --method dynamic (default op types: MatMul, Gemm)
  static-qdq          --method static (QDQ, minmax)
  static-qop          --method static --format qoperator (QLinearConv / QLinearMatMul)
  w4-rtn, w4-gptq     --method weight-only --bits 4 --algo rtn|gptq (com.microsoft MatMulNBits)
it times `refit quantize IN OUT --calib C --eval E --per-layer=false --json` (wall and CPU
seconds of the whole command, which includes Refit's float-vs-quantized accuracy check on the
eval rows) and, unless --no-per-layer, the same command with the per-layer table (one extra
quantize-and-evaluate per layer). Then ONNX Runtime (npm onnxruntime-node via
interop/ort/ort_run.js: intraOpNumThreads 1, interOpNumThreads 1, optimization "all") runs
the float model and every quantized model on all eval rows (batch N) and on the first eval
row (batch 1): --warmup untimed runs, then --runs (batch N) or --runs1 (batch 1) timed runs.
Printed per row: quantize seconds, file size, Refit's accuracy and cosine of the quantized model, ORT's
top-1 agreement with the float model (batch N outputs), ORT median and CPU ms per run, and
the speed-up vs float. The speed-up uses CPU time per run (process CPU, all threads), which
counts work rather than waiting for a core and so is the fairer figure on a loaded machine;
the median wall-clock speed-up is printed next to it.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
import machine  # bench/machine.py: the CPU line every table starts with

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=30, help="timed ORT runs at batch N")
ap.add_argument("--runs1", type=int, default=300, help="timed ORT runs at batch 1")
ap.add_argument("--warmup", type=int, default=5)
ap.add_argument("--models", default="mnist_cnn,digits_mlp,mlp1024")
ap.add_argument("--no-per-layer", action="store_true", help="skip timing the run with the per-layer table")
ap.add_argument("--dir", default="", help="work folder (default: a new temporary folder)")
ap.add_argument("--refit", default="", help="path to a built refit binary (default: go build)")
ap.add_argument("--json", action="store_true", help="print the raw results as JSON too")
a = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
node_modules = os.path.join(root, "node_modules")
ort_run = os.path.join(root, "interop", "ort", "ort_run.js")
if not os.path.isdir(os.path.join(node_modules, "onnxruntime-node")):
    sys.exit("bench/quantize_onnx.py: onnxruntime-node is not installed in node_modules (npm ci)")
work = a.dir or tempfile.mkdtemp(prefix="refit-quantize-onnx-")
os.makedirs(work, exist_ok=True)
refit = a.refit or os.path.join(work, "refit")
if not a.refit:
    subprocess.run(["go", "build", "-o", refit, "./cmd/refit"], cwd=root, check=True, env=dict(os.environ, CGO_ENABLED="0"))

QUANT = os.path.join(root, "testdata", "models", "quant")
METHODS = [
    ("dynamic", ["--method", "dynamic"]),
    ("static-qdq", ["--method", "static", "--calibration", "minmax"]),
    ("static-qop", ["--method", "static", "--calibration", "minmax", "--format", "qoperator"]),
    ("w4-rtn", ["--method", "weight-only", "--bits", "4", "--algo", "rtn"]),
    ("w4-gptq", ["--method", "weight-only", "--bits", "4", "--algo", "gptq"]),
]


def make_mlp1024(folder):
    """Exports the seeded 4-layer 1024-wide MLP and writes its calibration/eval .npz files."""
    model = os.path.join(folder, "mlp1024.onnx")
    calib, evalf = os.path.join(folder, "mlp1024_calib.npz"), os.path.join(folder, "mlp1024_eval.npz")
    if all(os.path.exists(p) for p in (model, calib, evalf)):
        return model, calib, evalf
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers = []
    for i in range(4):
        layers.append(torch.nn.Linear(1024, 1024))
        if i < 3:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).eval()
    torch.onnx.export(net, torch.zeros(1, 1024), model, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
    rng = np.random.default_rng(0)
    np.savez(calib, input=rng.standard_normal((256, 1024), dtype=np.float32))
    np.savez(evalf, input=rng.standard_normal((512, 1024), dtype=np.float32))
    return model, calib, evalf


def model_files(name):
    if name == "mnist_cnn":
        return (os.path.join(root, "testdata", "models", "mnist", "mnist_cnn.onnx"),
                os.path.join(QUANT, "mnist_calib.npz"), os.path.join(QUANT, "mnist_eval.npz"))
    if name == "digits_mlp":
        return (os.path.join(QUANT, "digits_mlp.onnx"), os.path.join(QUANT, "digits_calib.npz"),
                os.path.join(QUANT, "digits_eval.npz"))
    if name == "mlp1024":
        return make_mlp1024(work)
    sys.exit(f"unknown model {name}")


def timed(cmd):
    """Runs cmd; returns (wall seconds, child CPU seconds, stdout)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr.decode()[-3000:]}")
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p.stdout


def ort(jobs, runs):
    spec = os.path.join(work, "spec.json")
    with open(spec, "w") as f:
        json.dump({"threads": 1, "warmup": a.warmup, "runs": runs, "optimization": "all", "jobs": jobs}, f)
    p = subprocess.run(["node", ort_run, spec], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, NODE_PATH=node_modules))
    if p.returncode != 0:
        sys.exit(f"ort_run.js failed:\n{p.stderr.decode()[-3000:]}")
    return json.loads(p.stdout)


def first_output(folder):
    return np.load(os.path.join(folder, "out0.npy"))


results = []
load0 = os.getloadavg()[0]
for name in a.models.split(","):
    src, calib, evalf = model_files(name)
    mdir = os.path.join(work, name)
    os.makedirs(mdir, exist_ok=True)
    data = np.load(evalf)
    inputs = [k for k in data.files if k not in ("label", "labels")]
    feeds_n, feeds_1 = {}, {}
    for k in inputs:
        feeds_n[k] = os.path.join(mdir, f"{k}_n.npy")
        feeds_1[k] = os.path.join(mdir, f"{k}_1.npy")
        np.save(feeds_n[k], np.ascontiguousarray(data[k]))
        np.save(feeds_1[k], np.ascontiguousarray(data[k][:1]))
    batch = int(data[inputs[0]].shape[0])
    rows = [{"model": name, "method": "float", "path": src, "size": os.path.getsize(src)}]
    for method, flags in METHODS:
        out = os.path.join(mdir, f"{method}.onnx")
        base = [refit, "quantize", src, out, "--force", "--calib", calib, "--eval", evalf, "--json"] + flags
        print(f"{name}: quantize {method} ...", file=sys.stderr, flush=True)
        wall, cpu, stdout = timed(base + ["--per-layer=false"])
        rep = json.loads(stdout)
        row = {"model": name, "method": method, "path": out, "size": os.path.getsize(out),
               "quant_s": wall, "quant_cpu_s": cpu}
        outs = rep.get("evaluation", {}).get("outputs", [])
        if outs and outs[0].get("accuracy_b") is not None:
            row["accuracy"] = outs[0]["accuracy_b"]
            rows[0]["accuracy"] = outs[0]["accuracy_a"]
        row["refit_cosine"] = rep.get("evaluation", {}).get("min_cosine")
        if not a.no_per_layer:
            row["quant_per_layer_s"] = timed(base)[0]
        rows.append(row)
    print(f"{name}: ONNX Runtime ...", file=sys.stderr, flush=True)
    res_n = ort([{"model": r["path"], "inputs": feeds_n, "outputs": os.path.join(mdir, "out_" + r["method"])}
                 for r in rows], a.runs)
    res_1 = ort([{"model": r["path"], "inputs": feeds_1} for r in rows], a.runs1)
    ref = first_output(os.path.join(mdir, "out_float"))
    for r, rn, r1 in zip(rows, res_n, res_1):
        r.update(batch=batch, n_median_ms=rn["median_ms"], n_min_ms=min(rn["times_ms"]), n_cpu_ms=rn["cpu_ms"],
                 b1_median_ms=r1["median_ms"], b1_min_ms=min(r1["times_ms"]), b1_cpu_ms=r1["cpu_ms"])
        y = first_output(os.path.join(mdir, "out_" + r["method"]))
        r["ort_top1_agree"] = float(np.mean(y.reshape(len(y), -1).argmax(1) == ref.reshape(len(ref), -1).argmax(1)))
    results += rows

print(machine.cpu_line())
print(f"machine: {os.cpu_count()} cores, load average {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end; "
      f"ORT 1 thread, warmup {a.warmup}, runs {a.runs} (batch N) / {a.runs1} (batch 1)")
print("quant s / cpu: refit quantize wall / CPU seconds incl. its accuracy check, +layers: with the per-layer "
      "table; acc / cosine: Refit's eval accuracy and min cosine vs float;\ntop1: ORT argmax agreement with float; "
      "ms = median wall / CPU per run; "
      "speed-up = float CPU ms / model CPU ms (median wall ratio in parentheses)")
hdr = (f"{'model':10} {'method':10} {'quant s':>7} {'cpu s':>6} {'+layers':>7} {'size KiB':>8} {'acc':>6} {'cosine':>8} {'top1':>6} "
       f"{'N':>4} {'N med':>7} {'N cpu':>7} {'N speed-up':>13} {'b1 med':>7} {'b1 cpu':>7} {'b1 speed-up':>13}")
print(hdr)
print("-" * len(hdr))
floats = {r["model"]: r for r in results if r["method"] == "float"}


def fmt(x, spec, empty="-"):
    return empty if x is None else format(x, spec)


for r in results:
    f = floats[r["model"]]
    sn = f"{f['n_cpu_ms'] / r['n_cpu_ms']:.2f}x ({f['n_median_ms'] / r['n_median_ms']:.2f})"
    s1 = f"{f['b1_cpu_ms'] / r['b1_cpu_ms']:.2f}x ({f['b1_median_ms'] / r['b1_median_ms']:.2f})"
    acc = r.get("accuracy")
    print(f"{r['model']:10} {r['method']:10} {fmt(r.get('quant_s'), '7.2f'):>7} {fmt(r.get('quant_cpu_s'), '6.2f'):>6} "
          f"{fmt(r.get('quant_per_layer_s'), '7.2f'):>7} {r['size'] / 1024:8.1f} "
          f"{fmt(None if acc is None else 100 * acc, '5.1f'):>6} {fmt(r.get('refit_cosine'), '8.6f'):>8} {100 * r['ort_top1_agree']:5.1f}% {r['batch']:4d} "
          f"{r['n_median_ms']:7.3f} {r['n_cpu_ms']:7.3f} {sn:>13} {r['b1_median_ms']:7.3f} {r['b1_cpu_ms']:7.3f} {s1:>13}")
if a.json:
    print(json.dumps(results, indent=1))
