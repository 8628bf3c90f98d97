using System;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Quantization.Reference;

namespace TinyMlops.Quantization;

/// <summary>
/// The int8 arithmetic of docs/quantized-arithmetic.md written a second time, from the model as data and in a
/// different formulation (64-bit accumulation wrapped once, floor shifts, MathF rounding), so the firmware
/// interpreter is checked against an independent implementation rather than against itself.
/// </summary>
public static class ReferenceInterpreter
{
    /// <summary>Runs <paramref name="model"/> on <paramref name="input"/>; returns the output tensor's raw bytes.</summary>
    public static byte[] Run(QuantizedModel model, float[] input)
    {
        var values = new Array?[model.Tensors.Count];
        values[model.InputTensor] = (float[])input.Clone();
        foreach (OpSpec op in model.Ops)
        {
            ReferenceOps.For(op.Code).Run(model, op, values);
        }

        return values[model.OutputTensor] switch
        {
            sbyte[] s => Array.ConvertAll(s, v => (byte)v),
            int[] v => ToBytes(v),
            _ => throw new InvalidOperationException("output tensor was never written"),
        };
    }

    /// <summary>
    /// TFLM's MultiplyByQuantizedMultiplier, formulated independently: the doubling high multiply is a floor
    /// shift of (x*M + 2^30) by 31 (what gemmlowp's truncating division with its sign-dependent nudge amounts to),
    /// and the final right shift rounds half away from zero on the magnitude.
    /// </summary>
    public static long Requantize(int x, int multiplier, int shift)
    {
        int left = Math.Max(shift, 0);
        int right = Math.Max(-shift, 0);
        int shifted = unchecked((int)((long)x << left));
        long high = ((long)shifted * multiplier + (1L << 30)) >> 31;
        if (high > int.MaxValue)
        {
            high = int.MaxValue; // only x = M = int.MinValue gets here
        }

        if (right == 0)
        {
            return high;
        }

        long half = 1L << (right - 1);
        return high >= 0 ? (high + half) >> right : -((-high + half) >> right);
    }

    /// <summary>
    /// TFLM's QuantizeMultiplier: a real multiplier as a Q31 value in [2^30, 2^31) and a power-of-two shift
    /// (multiplier = q * 2^(shift - 31)). Zero and underflow give (0, 0).
    /// </summary>
    public static (int Multiplier, int Shift) QuantizeMultiplier(double real)
    {
        if (real < 0 || double.IsNaN(real) || double.IsInfinity(real))
        {
            throw new ArgumentOutOfRangeException(nameof(real), "multiplier must be finite and non-negative");
        }

        if (real == 0)
        {
            return (0, 0);
        }

        int exponent = Math.ILogB(real) + 1;            // frexp: real = q * 2^exponent, q in [0.5, 1)
        double q = Math.ScaleB(real, -exponent);
        long fixedPoint = (long)Math.Round(q * (1L << 31), MidpointRounding.AwayFromZero);
        if (fixedPoint == (1L << 31))
        {
            fixedPoint /= 2;
            exponent++;
        }

        if (exponent < -31)
        {
            return (0, 0);
        }

        if (exponent > 30)
        {
            throw new ArgumentOutOfRangeException(nameof(real), $"multiplier {real} needs a left shift above 30");
        }

        return ((int)fixedPoint, exponent);
    }

    private static byte[] ToBytes(int[] v)
    {
        var b = new byte[v.Length * 4];
        for (int i = 0; i < v.Length; i++)
        {
            BitConverter.TryWriteBytes(b.AsSpan(4 * i), v[i]);
        }

        return b;
    }
}
