using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Quantization;

namespace TinyMlops.Cli;

/// <summary>
/// Figures for every conformance model: MACs per inference, blob bytes against constant-parameter bytes (target:
/// blob ≤ 1.05 × parameters + 256 B), working memory, and host time per inference of the firmware's int8
/// interpreter against a plain float network of the same shape, both timed in this process.
/// </summary>
public static class BenchCommand
{
    /// <summary>Runs the benchmark.</summary>
    public static int Run(Options o)
    {
        int iterations = o.GetInt("iterations", 20000);
        string root = Checkout.FindRoot();
        string dir = Path.Combine(root, "tests", "conformance");
        Console.WriteLine($"{iterations} inferences per model after warm-up; times are medians of 5 runs ({Environment.ProcessorCount} cores, .NET {Environment.Version})");
        Console.WriteLine();
        Console.WriteLine("model                        MACs  blob B  param B  blob/(1.05p+256)  work B   int8 ns  float ns  int8/float");
        bool allFit = true;
        foreach (ConformanceCase c in ConformanceVectors.Build())
        {
            byte[] blob = c.Model.ToBlob();
            Int8Model m = Int8Model.Load(blob, 0, 0);
            float[][] inputs = c.Inputs;
            var reference = new FloatMirror(c.Model);
            int k = 0;
            int Pick() => k = (k + 1) % inputs.Length;
            double int8 = Median(() => Time(() => m.Invoke(inputs[Pick()]), iterations));
            double fl = Median(() => Time(() => reference.Run(inputs[Pick()]), iterations));
            double budget = (1.05 * m.ParameterBytes) + 256;
            allFit &= blob.Length <= budget;
            Console.WriteLine($"{c.Name,-26} {m.Macs,6} {blob.Length,7} {m.ParameterBytes,8} {blob.Length / budget,17:F3} {m.WorkingBytes,7} {int8,9:F0} {fl,9:F0} {int8 / fl,11:F2}");

        }

        Console.WriteLine();
        Console.WriteLine(allFit ? "every blob is within 1.05 x parameter bytes + 256 B" : "some blob exceeds 1.05 x parameter bytes + 256 B");
        return allFit ? 0 : 1;
    }

    private static double Time(Action action, int iterations)
    {
        for (int i = 0; i < 1000; i++)
        {
            action();
        }

        var sw = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++)
        {
            action();
        }

        return sw.Elapsed.TotalMilliseconds * 1e6 / iterations;
    }

    private static double Median(Func<double> run) => Enumerable.Range(0, 5).Select(_ => run()).OrderBy(v => v).ElementAt(2);

    /// <summary>The same network in float (weights dequantised), the baseline the int8 interpreter is timed against.</summary>
    private sealed class FloatMirror
    {
        private readonly QuantizedModel _m;
        private readonly float[]?[] _values;
        private readonly float[]?[] _weights;

        public FloatMirror(QuantizedModel m)
        {
            _m = m;
            _values = m.Tensors.Select(t => t.IsActivation ? new float[t.Length] : null).ToArray();
            _weights = m.Tensors.Select(t => t.Data switch
            {
                sbyte[] s => s.Select(v => v / 127f).ToArray(),
                int[] v => v.Select(x => (float)x).ToArray(),
                float[] f => f,
                _ => null,
            }).ToArray();
        }

        public float Run(float[] input)
        {
            Array.Copy(input, _values[_m.InputTensor]!, input.Length);
            foreach (OpSpec op in _m.Ops)
            {
                int[] a = op.Operands;
                switch (op.Code)
                {
                    case ModelFormat.OpQuantize:
                    {
                        float[] x = _values[a[0]]!, mul = _weights[a[1]]!, add = _weights[a[2]]!, y = _values[a[3]]!;
                        for (int i = 0; i < x.Length; i++)
                        {
                            y[i] = (x[i] * mul[i]) + add[i];
                        }

                        break;
                    }

                    case ModelFormat.OpFullyConnected:
                    {
                        float[] x = _values[a[0]]!, w = _weights[a[1]]!, b = _weights[a[2]]!, y = _values[a[5]]!;
                        bool relu = op.ActMin > -128;
                        for (int o = 0; o < y.Length; o++)
                        {
                            float s = b[o];
                            int row = o * x.Length;
                            for (int i = 0; i < x.Length; i++)
                            {
                                s += w[row + i] * x[i];
                            }

                            y[o] = relu && s < 0 ? 0 : s;
                        }

                        break;
                    }

                    case ModelFormat.OpRelu:
                    {
                        float[] x = _values[a[0]]!, y = _values[a[1]]!;
                        for (int i = 0; i < x.Length; i++)
                        {
                            y[i] = Math.Max(0, x[i]);
                        }

                        break;
                    }

                    case ModelFormat.OpSquaredError:
                    {
                        float[] p = _values[a[0]]!, q = _values[a[1]]!;
                        float s = 0;
                        for (int i = 0; i < p.Length; i++)
                        {
                            s += (p[i] - q[i]) * (p[i] - q[i]);
                        }

                        _values[a[2]]![0] = s;
                        break;
                    }

                    default:
                    {
                        float[] x = _values[a[0]]!, c = _weights[a[1]]!;
                        float best = float.MaxValue;
                        for (int j = 0; j < c.Length / x.Length; j++)
                        {
                            float s = 0;
                            for (int i = 0; i < x.Length; i++)
                            {
                                float d = x[i] - c[(j * x.Length) + i];
                                s += d * d;
                            }

                            best = Math.Min(best, s);
                        }

                        _values[a[2]]![0] = best;
                        break;
                    }
                }
            }

            return _values[_m.OutputTensor]![0];
        }
    }
}
