using System;

namespace TinyMlops.Quantization.Reference;

/// <summary>
/// One op of the independent int8 reference (docs/quantized-arithmetic.md), one file per op beside the firmware's
/// kernel of the same opcode: it runs the op from the model as data and counts its multiply-accumulates.
/// </summary>
public abstract class ReferenceOp
{
    /// <summary>The opcode (ModelFormat.Op…).</summary>
    public abstract int Code { get; }

    /// <summary>Multiply-accumulates of <paramref name="op"/> in <paramref name="m"/>.</summary>
    public abstract long Macs(QuantizedModel m, OpSpec op);

    /// <summary>Runs <paramref name="op"/>, reading and writing tensor values in <paramref name="values"/>.</summary>
    public abstract void Run(QuantizedModel m, OpSpec op, Array?[] values);
}

/// <summary>The registry of reference ops: one line per opcode, as the firmware's OpResolver.</summary>
public static class ReferenceOps
{
    private static readonly ReferenceOp[] All =
    {
        new QuantizeReference(),
        new FullyConnectedReference(),
        new ReluReference(),
        new SquaredErrorReference(),
        new MinSquaredDistanceReference(),
    };

    /// <summary>The reference op for <paramref name="code"/>.</summary>
    public static ReferenceOp For(int code) =>
        Array.Find(All, o => o.Code == code) ?? throw new InvalidOperationException($"unknown opcode {code}");
}
