using System;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Quantization.Reference;

/// <summary>RELU: max with the zero point.</summary>
public sealed class ReluReference : ReferenceOp
{
    /// <inheritdoc />
    public override int Code => ModelFormat.OpRelu;

    /// <inheritdoc />
    public override long Macs(QuantizedModel m, OpSpec op) => 0;

    /// <inheritdoc />
    public override void Run(QuantizedModel m, OpSpec op, Array?[] values)
    {
        int[] a = op.Operands;
        var x = (sbyte[])values[a[0]]!;
        int zp = m.Tensors[a[1]].ZeroPoint;
        var y = new sbyte[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            y[i] = (sbyte)Math.Max(x[i], zp);
        }

        values[a[1]] = y;
    }
}
