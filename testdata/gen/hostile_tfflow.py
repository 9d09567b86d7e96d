#!/usr/bin/python3
"""Writes hostile/testdata/tfflow: malformed and hostile TensorFlow graphs (frozen
GraphDefs and a SavedModel) for the control-flow and GraphDef readers.

  huge_fill.pb       a Const of 2^40 floats filled from one float_val
  deep_attr.pb       an attribute value nested 100000 functions deep
  cycle.pb           Merge <-> NextIteration with no Enter (a cycle outside any frame)
  enter_no_merge.pb  a frame whose Enter feeds no Merge
  nested_deep.pb     40 while loops nested in each other
  recursive_call.pb  a library function that calls itself
  call_bomb.pb       30 functions, each calling the next twice (2^30 inlined nodes)
  bad_signature/     a SavedModel whose signature output names a missing node
  cond_deep.pb       40 lowered (v1) conds nested in each other's then branches
  cond_crossed.pb    a cond whose then branch reads a value of its else branch

Run: /usr/bin/python3 testdata/gen/hostile_tfflow.py   (from the repository root)
"""
import base64, os, struct, sys

sys.path.insert(0, os.path.dirname(__file__))
from tfcheckpoint import field_varint, field_bytes  # noqa: E402
from tfgraph import node, shape  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "hostile", "testdata", "tfflow")


def graph(*nodes, library=b""):
    g = b"".join(field_bytes(1, n) for n in nodes)
    if library:
        g += field_bytes(2, library)
    return g + field_bytes(4, field_varint(1, 1205))


def attr_type(t):
    return field_varint(6, t)


def func_attr(name):
    return field_bytes(10, field_bytes(1, name.encode()))


def frame_attrs(frame, const=False):
    return [("frame_name", field_bytes(2, frame.encode())), ("is_constant", field_varint(5, 1 if const else 0)),
            ("T", attr_type(1))]


def const_int(name, v):
    t = field_varint(1, 3) + field_bytes(2, b"") + field_bytes(7, field_varint(1, v)[1:])
    return node(name, "Const", [], [("dtype", attr_type(3)), ("value", field_bytes(8, t))])


def placeholder(name="x"):
    return node(name, "Placeholder", [], [("dtype", attr_type(1)), ("shape", field_bytes(7, shape([2])))])


def function(name, inputs, outputs, nodes, ret):
    sig = field_bytes(1, name.encode())
    for a in inputs:
        sig += field_bytes(2, field_bytes(1, a.encode()) + field_varint(3, 1))
    for a in outputs:
        sig += field_bytes(3, field_bytes(1, a.encode()) + field_varint(3, 1))
    b = field_bytes(1, sig) + b"".join(field_bytes(3, n) for n in nodes)
    for k, v in ret.items():
        b += field_bytes(4, field_bytes(1, k.encode()) + field_bytes(2, v.encode()))
    return field_bytes(1, b)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as fh:
        fh.write(data)


def conds():
    """cond_deep.pb and cond_crossed.pb (also run alone: python3 -c 'import hostile_tfflow as h; h.conds()')."""
    pred = node("p", "Placeholder", [], [("dtype", attr_type(10))])
    nodes, v = [placeholder(), pred], "x"
    for k in range(40):
        nodes += [node("p%d" % k, "Identity", ["p"], []), node("s%d" % k, "Switch", [v, "p%d" % k], []),
                  node("t%d" % k, "Relu", ["s%d:1" % k], [])]
        v = "t%d" % k
    for k in reversed(range(40)):
        nodes.append(node("m%d" % k, "Merge", [v, "s%d" % k], []))
        v = "m%d" % k
    nodes.append(node("y", "Relu", [v], []))
    write("cond_deep.pb", graph(*nodes))
    write("cond_crossed.pb", graph(placeholder(), pred, node("s", "Switch", ["x", "p"], []),
                                   node("t", "Relu", ["s:1"], []), node("e", "Neg", ["s"], []),
                                   node("t2", "AddV2", ["t", "e"], []), node("m", "Merge", ["t2", "e"], []),
                                   node("y", "Relu", ["m"], [])))


def main():
    os.makedirs(OUT, exist_ok=True)
    # 2^40 elements: dims varint 0x80*5 0x20; one float_val.
    t = field_varint(1, 1) + field_bytes(2, field_bytes(2, field_varint(1, 1 << 40))) + field_bytes(5, struct.pack("<f", 1.0))
    write("huge_fill.pb", graph(node("c", "Const", [], [("dtype", attr_type(1)), ("value", field_bytes(8, t))]),
                                node("y", "Relu", ["c"], [])))

    deep = field_bytes(10, field_bytes(1, b"f"))
    for _ in range(100000):
        deep = field_bytes(10, field_bytes(1, b"f") + field_bytes(2, field_bytes(1, b"a") + field_bytes(2, deep)))
    write("deep_attr.pb", graph(placeholder(), node("y", "Relu", ["x"], [("a", deep)])))

    write("cycle.pb", graph(placeholder(), node("m", "Merge", ["x", "n"], []), node("n", "NextIteration", ["m"], []),
                            node("y", "Relu", ["m"], [])))

    write("enter_no_merge.pb", graph(placeholder(), node("e", "Enter", ["x"], frame_attrs("f")),
                                     node("y", "Exit", ["e"], [])))

    nodes, inner = [placeholder(), const_int("lim", 2)], "x"
    depth = 40
    for k in range(depth):
        p, f = "l%d/" % k, "frame%d" % k
        nodes += [node(p + "enter", "Enter", [inner], frame_attrs(f)),
                  node(p + "lim", "Enter", ["lim" if k == 0 else "l%d/lim" % (k - 1)], frame_attrs(f, True)),
                  node(p + "merge", "Merge", [p + "enter", p + "next"], []),
                  node(p + "less", "Less", [p + "merge", p + "lim"], []),
                  node(p + "cond", "LoopCond", [p + "less"], []),
                  node(p + "switch", "Switch", [p + "merge", p + "cond"], []),
                  node(p + "ident", "Identity", [p + "switch:1"], []),
                  node(p + "exit", "Exit", [p + "switch"], [])]
        inner = p + "ident"
    for k in reversed(range(depth)):
        p = "l%d/" % k
        body = "l%d/exit" % (k + 1) if k + 1 < depth else p + "ident"
        nodes.append(node(p + "next", "NextIteration", [body], []))
    nodes.append(node("y", "Relu", ["l0/exit"], []))
    write("nested_deep.pb", graph(*nodes))

    rec = function("f", ["a"], ["out"], [node("c", "PartitionedCall", ["a"], [("f", func_attr("f"))])], {"out": "c:output:0"})
    write("recursive_call.pb", graph(placeholder(), node("y", "PartitionedCall", ["x"], [("f", func_attr("f"))]), library=rec))

    lib = b""
    for k in range(30):
        callee = "f%d" % (k + 1)
        if k == 29:
            body = [node("r", "Relu", ["a"], [])]
            ret = {"out": "r:activations:0"}
        else:
            body = [node("c1", "PartitionedCall", ["a"], [("f", func_attr(callee))]),
                    node("c2", "PartitionedCall", ["c1:output:0"], [("f", func_attr(callee))])]
            ret = {"out": "c2:output:0"}
        lib += function("f%d" % k, ["a"], ["out"], body, ret)
    write("call_bomb.pb", graph(placeholder(), node("y", "PartitionedCall", ["x"], [("f", func_attr("f0"))]), library=lib))

    conds()

    g = graph(placeholder(), node("y", "Relu", ["x"], []))
    info = lambda n: field_bytes(1, n.encode()) + field_varint(2, 1)
    sig = field_bytes(1, field_bytes(1, b"x") + field_bytes(2, info("x:0"))) + \
        field_bytes(2, field_bytes(1, b"y") + field_bytes(2, info("missing:0")))
    meta = field_bytes(1, field_bytes(4, b"serve")) + field_bytes(2, g) + \
        field_bytes(5, field_bytes(1, b"serving_default") + field_bytes(2, sig))
    os.makedirs(os.path.join(OUT, "bad_signature"), exist_ok=True)
    write(os.path.join("bad_signature", "saved_model.pb"), field_varint(1, 1) + field_bytes(2, meta))


if __name__ == "__main__":
    main()
