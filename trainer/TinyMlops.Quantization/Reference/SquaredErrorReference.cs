using System;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Quantization.Reference;

/// <summary>SQUARED_ERROR: 64-bit sum of squared differences, checked into int32.</summary>
public sealed class SquaredErrorReference : ReferenceOp
{
    /// <inheritdoc />
    public override int Code => ModelFormat.OpSquaredError;

    /// <inheritdoc />
    public override long Macs(QuantizedModel m, OpSpec op) => m.Tensors[op.Operands[0]].Length;

    /// <inheritdoc />
    public override void Run(QuantizedModel m, OpSpec op, Array?[] values)
    {
        int[] a = op.Operands;
        var p = (sbyte[])values[a[0]]!;
        var q = (sbyte[])values[a[1]]!;
        long sum = 0;
        for (int i = 0; i < p.Length; i++)
        {
            sum += (long)(p[i] - q[i]) * (p[i] - q[i]);
        }

        values[a[2]] = new[] { checked((int)sum) };
    }
}
