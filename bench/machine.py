"""The CPU a benchmark ran on, for the first line of every bench/ table.

Integer kernels in particular depend on it: ONNX Runtime's uint8 x int8 products are
exact with AVX-512 VNNI or AVX-VNNI and saturate in int16 pairs with AVX2 alone.
"""
import os

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni")


def cpu_line():
    """'cpu: <model name>; avx2 yes, avx512f yes, avx512_vnni yes, avx_vnni no; N cores'."""
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown":
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    have = ", ".join(f"{fl} {'yes' if fl in flags else 'no'}" for fl in FLAGS)
    return f"cpu: {model}; {have}; {os.cpu_count()} cores"


if __name__ == "__main__":
    print(cpu_line())
