using System;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Quantization.Reference;

/// <summary>MIN_SQUARED_DISTANCE: 64-bit distances to every centroid, the smallest (and its index).</summary>
public sealed class MinSquaredDistanceReference : ReferenceOp
{
    /// <inheritdoc />
    public override int Code => ModelFormat.OpMinSquaredDistance;

    /// <inheritdoc />
    public override long Macs(QuantizedModel m, OpSpec op) => m.Tensors[op.Operands[1]].Length;

    /// <inheritdoc />
    public override void Run(QuantizedModel m, OpSpec op, Array?[] values)
    {
        int[] a = op.Operands;
        var x = (sbyte[])values[a[0]]!;
        var c = (sbyte[])m.Tensors[a[1]].Data!;
        int k = c.Length / x.Length;
        long best = long.MaxValue;
        int bestIndex = 0;
        for (int j = 0; j < k; j++)
        {
            long sum = 0;
            for (int i = 0; i < x.Length; i++)
            {
                long d = x[i] - c[(j * x.Length) + i];
                sum += d * d;
            }

            if (sum < best)
            {
                best = sum;
                bestIndex = j;
            }
        }

        values[a[2]] = m.Tensors[a[2]].Length == 2 ? new[] { (int)best, bestIndex } : new[] { (int)best };
    }
}
