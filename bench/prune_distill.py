#!/usr/bin/python3
"""Prune and distill the committed MNIST CNN and print a table (run from the repo root):

    /usr/bin/python3 bench/prune_distill.py

Builds ./cmd/refit, then for each row runs `refit prune` / `refit distill`, measures
accuracy on the 256 held-out digits of testdata/models/mnist/test.npz with
`refit diff --json`, and ONNX Runtime latency (batch 256, 1 thread, median of 20) with
interop/ort/ort_run.js. Training data: testdata/models/distill/transfer.npz (2000
digits from the teacher's training split). Unstructured rows are re-pruned after
distillation (dense training would refill the zeros).
"""
import json, os, subprocess, sys, tempfile
import machine  # bench/machine.py: the CPU line every table starts with

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tmp = tempfile.mkdtemp(prefix="refit-prune-bench-")
refit = os.path.join(tmp, "refit")
subprocess.run(["go", "build", "-o", refit, "./cmd/refit"], cwd=root, check=True, env=dict(os.environ, CGO_ENABLED="0"))
M = os.path.join(root, "testdata", "models")
teacher = os.path.join(M, "mnist", "mnist_cnn.onnx")
test = os.path.join(M, "mnist", "test.npz")
transfer = os.path.join(M, "distill", "transfer.npz")


def run(*args):
    r = subprocess.run([refit, *args], cwd=root, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"refit {' '.join(args)}: {r.stderr}")
    return r.stdout


def accuracy(model):
    d = json.loads(run("diff", teacher, model, "--data", test, "--json"))
    return d["outputs"][0]["accuracy_b"]


def params(model):
    import onnx
    from onnx import numpy_helper
    import numpy as np
    m = onnx.load(model)
    total = nz = 0
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        total += a.size
        nz += int(np.count_nonzero(a))
    return total, nz


def zstd_size(model):
    out = os.path.join(tmp, os.path.basename(model) + ".zst")
    run("prune", model, out, "--method", "magnitude", "--sparsity", "0", "--force")
    return os.path.getsize(out)


def latency(models):
    import numpy as np
    x = np.load(test)["input"]
    xp = os.path.join(tmp, "x.npy")
    np.save(xp, x)
    spec = {"threads": 1, "warmup": 3, "runs": 20, "jobs": [{"model": m, "inputs": {"input": xp}} for m in models]}
    sp = os.path.join(tmp, "spec.json")
    json.dump(spec, open(sp, "w"))
    env = dict(os.environ, NODE_PATH=os.path.join(root, "node_modules"))
    r = subprocess.run(["node", os.path.join(root, "interop", "ort", "ort_run.js"), sp], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(r.stderr)
    return {j["model"]: j["median_ms"] for j in json.loads(r.stdout)}


def distill(student, out, *extra):
    run("distill", "--teacher", teacher, "--student", student, "--data", transfer, "--val", test,
        "--out", out, "--force", *extra)
    return out


rows = []  # (name, before model, after model or None)
p = lambda n: os.path.join(tmp, n)
rows.append(("teacher (MNIST CNN)", teacher, None))
for s in ["0.3", "0.5", "0.7", "0.9"]:
    b = p(f"mag{s}.onnx")
    run("prune", teacher, b, "--method", "global", "--sparsity", s, "--force")
    d = distill(b, p(f"mag{s}_d.onnx"), "--epochs", "2", "--lr", "3e-4")
    a = p(f"mag{s}_dp.onnx")
    run("prune", d, a, "--method", "global", "--sparsity", s, "--force")
    rows.append((f"global unstructured {int(float(s)*100)}%", b, a))
b = p("nm.onnx")
run("prune", teacher, b, "--method", "nm", "--n", "2", "--m", "4", "--exclude", "Conv_32", "--force")
d = distill(b, p("nm_d.onnx"), "--epochs", "2", "--lr", "3e-4")
a = p("nm_dp.onnx")
run("prune", d, a, "--method", "nm", "--n", "2", "--m", "4", "--exclude", "Conv_32", "--force")
rows.append(("2:4 semi-structured", b, a))
b = p("struct50.onnx")
run("prune", teacher, b, "--method", "structured", "--sparsity", "0.5", "--force")
a = distill(b, p("struct50_d.onnx"), "--epochs", "3", "--lr", "1e-3")
rows.append(("structured 50% channels", b, a))
sc = os.path.join(M, "distill", "student_cnn.onnx")
hard100 = distill(sc, p("st_hard100.onnx"), "--alpha", "0", "--labels", "100", "--epochs", "40", "--lr", "3e-3")
dist100 = distill(sc, p("st_dist100.onnx"), "--alpha", "0.5", "--labels", "100", "--epochs", "4", "--lr", "3e-3")
hardall = distill(sc, p("st_hardall.onnx"), "--alpha", "0", "--epochs", "6", "--lr", "3e-3")
distall = distill(sc, p("st_distall.onnx"), "--alpha", "0.5", "--epochs", "6", "--lr", "3e-3")
rows.append(("student CNN, 100 labels, labels only", hard100, None))
rows.append(("student CNN, 100 labels + 1900 unlabeled, distilled", dist100, None))
rows.append(("student CNN, 2000 labels, labels only", hardall, None))
rows.append(("student CNN, 2000 labels, distilled", distall, None))

lat = latency([m for _, b, a in rows for m in (b, a) if m])
print(machine.cpu_line())
print()
print("| model | accuracy | after distillation | params (nonzero) | file bytes | zstd bytes | ORT ms (batch 256) |")
print("|---|---|---|---|---|---|---|")
for name, b, a in rows:
    tot, nz = params(b)
    after = f"{100*accuracy(a):.2f}%" if a else "-"
    print(f"| {name} | {100*accuracy(b):.2f}% | {after} | {tot} ({nz}) | {os.path.getsize(b)} | {zstd_size(b)} | {lat[b]:.2f} |")
