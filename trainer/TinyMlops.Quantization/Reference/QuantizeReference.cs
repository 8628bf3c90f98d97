using System;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Quantization.Reference;

/// <summary>QUANTIZE: x * mul + add rounded half away from zero with MathF, clamped to int8.</summary>
public sealed class QuantizeReference : ReferenceOp
{
    /// <inheritdoc />
    public override int Code => ModelFormat.OpQuantize;

    /// <inheritdoc />
    public override long Macs(QuantizedModel m, OpSpec op) => 0;

    /// <inheritdoc />
    public override void Run(QuantizedModel m, OpSpec op, Array?[] values)
    {
        int[] a = op.Operands;
        var x = (float[])values[a[0]]!;
        var mul = (float[])m.Tensors[a[1]].Data!;
        var add = (float[])m.Tensors[a[2]].Data!;
        var q = new sbyte[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            float v = (x[i] * mul[i]) + add[i];
            float r = MathF.Round(v, MidpointRounding.AwayFromZero);
            q[i] = (sbyte)Math.Clamp(r, -128f, 127f);
        }

        values[a[3]] = q;
    }
}
