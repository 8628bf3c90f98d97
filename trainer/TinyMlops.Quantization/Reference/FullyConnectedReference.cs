using System;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Quantization.Reference;

/// <summary>FULLY_CONNECTED: 64-bit accumulation wrapped to int32 once, then the independent requantisation.</summary>
public sealed class FullyConnectedReference : ReferenceOp
{
    /// <inheritdoc />
    public override int Code => ModelFormat.OpFullyConnected;

    /// <inheritdoc />
    public override long Macs(QuantizedModel m, OpSpec op) => (long)m.Tensors[op.Operands[0]].Length * m.Tensors[op.Operands[5]].Length;

    /// <inheritdoc />
    public override void Run(QuantizedModel m, OpSpec op, Array?[] values)
    {
        int[] a = op.Operands;
        var x = (sbyte[])values[a[0]]!;
        var w = (sbyte[])m.Tensors[a[1]].Data!;
        var bias = (int[])m.Tensors[a[2]].Data!;
        var mult = (int[])m.Tensors[a[3]].Data!;
        var shift = (sbyte[])m.Tensors[a[4]].Data!;
        int inZp = m.Tensors[a[0]].ZeroPoint;
        int outZp = m.Tensors[a[5]].ZeroPoint;
        int n = x.Length;
        var y = new sbyte[bias.Length];
        for (int o = 0; o < y.Length; o++)
        {
            long sum = bias[o];
            for (int i = 0; i < n; i++)
            {
                sum += (long)w[(o * n) + i] * (x[i] - inZp);
            }

            int acc = unchecked((int)sum); // int32 accumulator semantics: wrap modulo 2^32
            long v = ReferenceInterpreter.Requantize(acc, mult[o], shift[o]) + outZp;
            y[o] = (sbyte)Math.Clamp(v, op.ActMin, op.ActMax);
        }

        values[a[5]] = y;
    }
}
