#!/usr/bin/python3
"""Conversion benchmark: Refit vs torch.load/torch.save vs cp, in one run.

Usage: /usr/bin/python3 bench/convert.py [--size-mb 1024] [--dir /tmp/refit-bench] [--keep]

Builds a random float32 state_dict of about --size-mb with torch (64 tensors), then times
  cp model.pt copy.pt                               (the copy ceiling)
  torch.load(model.pt) + torch.save(...)            (the torch equivalent of a pt -> pt pass,
                                                     with torch.set_num_threads(1) and (2))
  refit convert between pt, safetensors, GGUF and npz in both directions, and
  pt -> safetensors cast to f16 and bf16            (all with the default verification pass)
and prints the fastest of --repeat runs: wall time, throughput, peak RSS (GNU time, Debian package "time") and ratios.
"x torch" compares with the faster torch row (wall) and the cheaper one (CPU).
Files are read from the page cache (each input is read once before timing); every run writes a
new file (an earlier output is deleted before timing, for cp and torch as for Refit).
"""
import argparse, os, resource, shutil, subprocess, sys, time
import machine  # bench/machine.py: the CPU line every table starts with

ap = argparse.ArgumentParser()
ap.add_argument("--size-mb", type=int, default=1024)
ap.add_argument("--dir", default="/tmp/refit-bench")
ap.add_argument("--keep", action="store_true")
ap.add_argument("--refit", default="", help="path to a built refit binary (default: go build)")
ap.add_argument("--repeat", type=int, default=3, help="runs per conversion; the fastest is reported")
a = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.makedirs(a.dir, exist_ok=True)
refit = a.refit or os.path.join(a.dir, "refit")
if not a.refit:
    subprocess.run(["go", "build", "-o", refit, "./cmd/refit"], cwd=root, check=True, env=dict(os.environ, CGO_ENABLED="0"))

src = os.path.join(a.dir, "model.pt")
if not os.path.exists(src) or abs(os.path.getsize(src) - a.size_mb * 2**20) > 2**20:
    # A child process makes the model, so this driver stays small: a forked child's peak
    # RSS (wait4) counts the parent's memory until exec.
    gen = ("import sys, torch; torch.manual_seed(0); n, per = 64, int(sys.argv[2]); "
           "torch.save({f'layers.{i}.weight': torch.randn(per // 1024, 1024) for i in range(n)}, sys.argv[1])")
    subprocess.run([sys.executable, "-c", gen, src, str(a.size_mb * 2**20 // 4 // 64)], check=True)

def run(cmd, label, out):
    """Runs cmd --repeat times; returns the fastest (seconds, peak RSS in bytes, CPU seconds)."""
    return min(run_once(cmd, label, out) for _ in range(a.repeat))


def run_once(cmd, label, out):
    """Runs cmd, returns (seconds, peak RSS in bytes, CPU seconds: user + system).

    Peak RSS comes from GNU time (Debian package "time"): Linux keeps a process's RSS
    high-water mark across exec, so a child forked from this Python driver would report
    at least the driver's own memory; GNU time's small process forks the command instead.
    """
    rss_file = os.path.join(a.dir, "rss.txt")
    # Every tool writes a new file: replacing one would add the old file's page-cache
    # teardown (and ext4's flush of a file renamed over another) to whoever runs next.
    if os.path.exists(out):
        os.remove(out)
    os.sync()  # write back earlier runs' dirty pages so they do not slow this one
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{label} failed: {p.stderr.decode()}")
    with open(rss_file) as f:
        rss, user, sys_ = f.read().split()[-3:]
    return dt, int(rss) * 1024, float(user) + float(sys_)

def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


size = os.path.getsize(src)
st = os.path.join(a.dir, "model.safetensors")
back = os.path.join(a.dir, "back.pt")
tpt = os.path.join(a.dir, "torch.pt")
cp = os.path.join(a.dir, "copy.pt")
torch_script = ("import sys, torch; torch.set_num_threads(int(sys.argv[3])); "
                "sd = torch.load(sys.argv[1]); torch.save(sd, sys.argv[2])")

rows = []
warm(src)
rows.append(("cp", "pt -> pt (copy)", *run(["cp", src, cp], "cp", cp)))
for threads in (1, 2):
    warm(src)
    rows.append(("torch", f"pt -> pt (load+save, {threads} thr)",
                 *run([sys.executable, "-c", torch_script, src, tpt, str(threads)], "torch", tpt)))
gguf = os.path.join(a.dir, "model.gguf")
npz = os.path.join(a.dir, "model.npz")
half = os.path.join(a.dir, "half.safetensors")
# (label, input, output, extra flags): each output is the next rows' input where it can be.
conversions = [
    ("pt -> safetensors", src, st, []),
    ("safetensors -> pt", st, back, []),
    ("safetensors -> gguf", st, gguf, []),
    ("gguf -> pt", gguf, back, []),
    ("pt -> gguf", src, gguf, []),
    ("gguf -> safetensors", gguf, st, []),
    ("safetensors -> npz", st, npz, []),
    ("npz -> pt", npz, back, []),
    ("pt -> npz", src, npz, []),
    ("npz -> safetensors", npz, st, []),
    ("npz -> gguf", npz, gguf, []),
    ("gguf -> npz", gguf, npz, []),
    ("pt -> safetensors --dtype f16", src, half, ["--dtype", "f16"]),
    ("pt -> safetensors --dtype bf16", src, half, ["--dtype", "bf16"]),
    ("pt -> safetensors --no-verify", src, st, ["--no-verify"]),
]
for label, i, o, flags in conversions:
    warm(i)
    rows.append(("refit", label, *run([refit, "convert", i, o, "--force"] + flags, "refit " + label, o)))

cp_t, cp_cpu = rows[0][2], rows[0][4]
torch_t, torch_cpu = min(rows[1][2], rows[2][2]), min(rows[1][4], rows[2][4])
print(machine.cpu_line())
print(f"model: {size / 2**20:.0f} MiB float32 state_dict, 64 tensors; {os.cpu_count()} cores; warm page cache;"
      f" fastest of {a.repeat} runs; every run writes a new output file; load average {os.getloadavg()[0]:.1f} at the end")
print("wall time includes the kernel's page-cache writeback throttling, which varies from run to run;"
      " CPU time (user + system) is the steadier measure")
print(f"{'tool':<6} {'conversion':<32} {'seconds':>8} {'MiB/s':>7} {'CPU s':>6} {'peak RSS MiB':>13}"
      f" {'x torch':>8} {'x torch CPU':>11} {'% of cp':>8} {'% of cp CPU':>12}")
for tool, what, t, rss, cpu in rows:
    print(f"{tool:<6} {what:<32} {t:8.2f} {size / 2**20 / t:7.0f} {cpu:6.2f} {rss / 2**20:13.0f}"
          f" {torch_t / t:8.2f} {torch_cpu / max(cpu, 0.01):11.2f} {100 * cp_t / t:7.0f}% {100 * cp_cpu / max(cpu, 0.01):11.0f}%")
if not a.keep:
    for p in (st, back, tpt, cp, gguf, npz, half):
        if os.path.exists(p):
            os.remove(p)
