using System;
using System.Collections.Generic;
using System.Linq;
using TinyMlops.Trainer.Onnx;

namespace TinyMlops.Trainer.Models;

/// <summary>
/// The gateway's verifier: standardisation, one ReLU hidden layer, softmax over the fault classes. Trained with
/// Adam on cross-entropy (class-balanced), seeded and single-threaded, so the same data and seed give the same
/// weights. Exports to ONNX as Sub → Div → Gemm → Relu → Gemm → Softmax (opset 13).
/// </summary>
public sealed class MlpClassifier
{
    /// <summary>Class names, index = output column.</summary>
    public required string[] Classes { get; init; }

    /// <summary>Feature means.</summary>
    public required float[] Mean { get; init; }

    /// <summary>Feature standard deviations (never 0).</summary>
    public required float[] Std { get; init; }

    /// <summary>Hidden weights [hidden][features].</summary>
    public required float[][] W1 { get; init; }

    /// <summary>Hidden biases.</summary>
    public required float[] B1 { get; init; }

    /// <summary>Output weights [classes][hidden].</summary>
    public required float[][] W2 { get; init; }

    /// <summary>Output biases.</summary>
    public required float[] B2 { get; init; }

    /// <summary>Trains on <paramref name="x"/> with class indices <paramref name="y"/>.</summary>
    public static MlpClassifier Train(float[][] x, int[] y, string[] classes, int hidden, int epochs, int seed, IProgress<string>? progress = null)
    {
        int n = x[0].Length, c = classes.Length;
        Quantization.FloatDetector standardisation = Quantization.FloatDetector.FitStandardisation(x);
        float[] mean = standardisation.Mean, std = standardisation.Std;

        float[][] z = x.Select(r => r.Select((v, i) => (v - mean[i]) / std[i]).ToArray()).ToArray();
        var rng = new Random(seed);
        double[,] w1 = Init(rng, hidden, n), w2 = Init(rng, c, hidden);
        var b1 = new double[hidden];
        var b2 = new double[c];
        int[] counts = new int[c];
        foreach (int label in y)
        {
            counts[label]++;
        }

        double[] classWeight = counts.Select(k => k == 0 ? 0 : (double)y.Length / (c * k)).ToArray();
        var adam = new Adam(hidden * n + hidden + c * hidden + c);
        var h = new double[hidden];
        var p = new double[c];
        const int batch = 64;
        int[] order = Enumerable.Range(0, z.Length).ToArray();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            for (int i = order.Length - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }

            double loss = 0;
            for (int start = 0; start < order.Length; start += batch)
            {
                var gw1 = new double[hidden, n];
                var gb1 = new double[hidden];
                var gw2 = new double[c, hidden];
                var gb2 = new double[c];
                int end = Math.Min(order.Length, start + batch);
                double norm = 0;
                for (int s = start; s < end; s++)
                {
                    norm += classWeight[y[order[s]]];
                }

                for (int s = start; s < end; s++)
                {
                    float[] xi = z[order[s]];
                    int yi = y[order[s]];
                    Forward(xi, w1, b1, w2, b2, h, p);
                    double cw = classWeight[yi] / norm;
                    loss -= cw * Math.Log(Math.Max(p[yi], 1e-12));
                    var dh = new double[hidden];
                    for (int k = 0; k < c; k++)
                    {
                        double d = cw * (p[k] - (k == yi ? 1 : 0));
                        gb2[k] += d;
                        for (int j = 0; j < hidden; j++)
                        {
                            gw2[k, j] += d * h[j];
                            dh[j] += d * w2[k, j];
                        }
                    }

                    for (int j = 0; j < hidden; j++)
                    {
                        if (h[j] <= 0)
                        {
                            continue;
                        }

                        gb1[j] += dh[j];
                        for (int i = 0; i < n; i++)
                        {
                            gw1[j, i] += dh[j] * xi[i];
                        }
                    }
                }

                adam.Step(w1, gw1, b1, gb1, w2, gw2, b2, gb2, weightDecay: 1e-4);
            }

            if (progress != null && (epoch + 1) % 50 == 0)
            {
                progress.Report($"verifier: epoch {epoch + 1}/{epochs}, loss {loss / Math.Ceiling(order.Length / (double)batch):F4}");
            }
        }

        return new MlpClassifier
        {
            Classes = classes,
            Mean = mean,
            Std = std,
            W1 = ToFloat(w1),
            B1 = b1.Select(v => (float)v).ToArray(),
            W2 = ToFloat(w2),
            B2 = b2.Select(v => (float)v).ToArray(),
        };
    }

    /// <summary>Class probabilities, computed in float as ONNX Runtime does.</summary>
    public float[] Predict(float[] x)
    {
        int hidden = B1.Length;
        var h = new float[hidden];
        for (int j = 0; j < hidden; j++)
        {
            float s = B1[j];
            for (int i = 0; i < x.Length; i++)
            {
                s += W1[j][i] * ((x[i] - Mean[i]) / Std[i]);
            }

            h[j] = Math.Max(0f, s);
        }

        var logits = new float[B2.Length];
        for (int k = 0; k < logits.Length; k++)
        {
            float s = B2[k];
            for (int j = 0; j < hidden; j++)
            {
                s += W2[k][j] * h[j];
            }

            logits[k] = s;
        }

        float max = logits.Max();
        float[] e = logits.Select(v => MathF.Exp(v - max)).ToArray();
        float sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    /// <summary>Index of the most probable class.</summary>
    public int PredictClass(float[] x)
    {
        float[] p = Predict(x);
        return Array.IndexOf(p, p.Max());
    }

    /// <summary>The ONNX model: input "features" [batch, n] → output "probabilities" [batch, classes].</summary>
    public byte[] ToOnnx(string producerVersion, long modelVersion, IReadOnlyDictionary<string, string> metadata)
    {
        int n = Mean.Length, hidden = B1.Length, c = B2.Length;
        var g = new OnnxGraphBuilder("tinymlops_verifier").Input("features", n).Output("probabilities", c);
        string centred = g.Node("Sub", "centred", new[] { "features", g.Constant("mean", Mean, 1, n) });
        string z = g.Node("Div", "standardised", new[] { centred, g.Constant("std", Std, 1, n) });
        string a = g.Node("Gemm", "hidden_pre", new[] { z, g.Constant("W1", W1.SelectMany(r => r).ToArray(), hidden, n), g.Constant("B1", B1, hidden) }, ("transB", 1L));
        string r = g.Node("Relu", "hidden", new[] { a });
        string l = g.Node("Gemm", "logits", new[] { r, g.Constant("W2", W2.SelectMany(v => v).ToArray(), c, hidden), g.Constant("B2", B2, c) }, ("transB", 1L));
        g.Node("Softmax", "probabilities", new[] { l }, ("axis", 1L));
        var meta = new Dictionary<string, string>(metadata) { ["classes"] = string.Join(",", Classes) };
        return g.Build(producerVersion, modelVersion, meta);
    }

    /// <summary>
    /// The int8 QDQ ONNX model: standardised input and hidden activations quantised per tensor (asymmetric int8,
    /// per channel or per tensor, ranges from <paramref name="calibration"/>), weights per
    /// output channel (symmetric int8), biases float.
    /// ONNX Runtime runs the Q/DQ pairs around each Gemm as int8 kernels where it can. <paramref name="tail"/>: share of
    /// calibration values left outside each activation range (0 = min/max).
    /// </summary>
    public byte[] ToQdqOnnx(float[][] calibration, double tail, bool perChannelInput, bool perChannelHidden, string producerVersion, long modelVersion, IReadOnlyDictionary<string, string> metadata)
    {
        int n = Mean.Length, hidden = B1.Length, c = B2.Length;
        List<float>[] zs = Enumerable.Range(0, n).Select(_ => new List<float>()).ToArray();
        List<float>[] hs = Enumerable.Range(0, hidden).Select(_ => new List<float>()).ToArray();
        foreach (float[] x in calibration)
        {
            float[] z = x.Select((v, i) => (v - Mean[i]) / Std[i]).ToArray();
            for (int i = 0; i < n; i++)
            {
                zs[i].Add(z[i]);
            }

            for (int j = 0; j < hidden; j++)
            {
                float s = B1[j];
                for (int i = 0; i < n; i++)
                {
                    s += W1[j][i] * z[i];
                }

                hs[j].Add(Math.Max(0f, s));
            }
        }

        // Ranges from the tail / 1 − tail quantiles: a few extreme windows would otherwise spend the int8 steps
        // that the decision boundary needs; values beyond them saturate.
        // Activations are quantised per channel (QuantizeLinear along axis 1) or with one range per tensor: fault
        // windows stretch some features far more than others, and a shared range leaves the rest few steps; which
        // works better depends on the data, so the caller tries both on validation windows.
        (float[] zScale, sbyte[] zZero) = Ranges(zs, tail, perChannelInput, lowerTail: true);
        (float[] hScale, sbyte[] hZero) = Ranges(hs, tail, perChannelHidden, lowerTail: false);
        var g = new OnnxGraphBuilder("tinymlops_verifier_int8").Input("features", n).Output("probabilities", c);
        string centred = g.Node("Sub", "centred", new[] { "features", g.Constant("mean", Mean, 1, n) });
        string z0 = g.Node("Div", "standardised", new[] { centred, g.Constant("std", Std, 1, n) });
        string zq = g.Node("QuantizeLinear", "standardised_q", new[] { z0, g.Constant("z_scale", zScale, n), g.ConstantInt8("z_zero", zZero, n) }, ("axis", 1L));
        string zd = g.Node("DequantizeLinear", "standardised_dq", new[] { zq, "z_scale", "z_zero" }, ("axis", 1L));
        string w1 = Weights(g, "W1", W1);
        string a = g.Node("Gemm", "hidden_pre", new[] { zd, w1, g.Constant("B1", B1, hidden) }, ("transB", 1L));
        string r = g.Node("Relu", "hidden", new[] { a });
        string hq = g.Node("QuantizeLinear", "hidden_q", new[] { r, g.Constant("h_scale", hScale, hidden), g.ConstantInt8("h_zero", hZero, hidden) }, ("axis", 1L));
        string hd = g.Node("DequantizeLinear", "hidden_dq", new[] { hq, "h_scale", "h_zero" }, ("axis", 1L));
        string w2 = Weights(g, "W2", W2);
        string l = g.Node("Gemm", "logits", new[] { hd, w2, g.Constant("B2", B2, c) }, ("transB", 1L));
        g.Node("Softmax", "probabilities", new[] { l }, ("axis", 1L));
        var meta = new Dictionary<string, string>(metadata) { ["classes"] = string.Join(",", Classes), ["quantization"] = "qdq-int8" };
        return g.Build(producerVersion, modelVersion, meta);
    }

    private static (float[] Scale, sbyte[] Zero) Ranges(List<float>[] channels, double tail, bool perChannel, bool lowerTail)
    {
        var scale = new float[channels.Length];
        var zero = new sbyte[channels.Length];
        List<float> all = channels.SelectMany(v => v).ToList();
        for (int i = 0; i < channels.Length; i++)
        {
            List<float> values = perChannel ? channels[i] : all;
            double lo = lowerTail ? Quantile(values, tail) : 0;
            (scale[i], int zp) = Quantization.PostTrainingQuantizer.ActivationQuantization(lo, Quantile(values, 1 - tail));
            zero[i] = (sbyte)zp;
        }

        return (scale, zero);
    }

    /// <summary>Calibration tails tried (share of values left outside each activation range, at each end).</summary>
    public static readonly double[] CalibrationTails = { 0, 0.0005, 0.002, 0.01 };

    private static double Quantile(List<float> values, double q)
    {
        float[] sorted = values.ToArray();
        Array.Sort(sorted);
        return sorted[(int)Math.Clamp(Math.Round(q * (sorted.Length - 1)), 0, sorted.Length - 1)];
    }

    private static string Weights(OnnxGraphBuilder g, string name, float[][] w)
    {
        int rows = w.Length, cols = w[0].Length;
        var scales = new float[rows];
        var q = new sbyte[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            float max = w[r].Max(v => Math.Abs(v));
            scales[r] = max > 0 ? max / 127f : 1f / 127f;
            for (int k = 0; k < cols; k++)
            {
                q[(r * cols) + k] = (sbyte)Math.Clamp(Math.Round(w[r][k] / scales[r], MidpointRounding.AwayFromZero), -127, 127);
            }
        }

        g.ConstantInt8(name + "_q", q, rows, cols);
        g.Constant(name + "_scale", scales, rows);
        g.ConstantInt8(name + "_zero", new sbyte[rows], rows);
        return g.Node("DequantizeLinear", name + "_dq", new[] { name + "_q", name + "_scale", name + "_zero" }, ("axis", 0L));
    }

    private static void Forward(float[] x, double[,] w1, double[] b1, double[,] w2, double[] b2, double[] h, double[] p)
    {
        int hidden = b1.Length, n = x.Length, c = b2.Length;
        for (int j = 0; j < hidden; j++)
        {
            double s = b1[j];
            for (int i = 0; i < n; i++)
            {
                s += w1[j, i] * x[i];
            }

            h[j] = Math.Max(0, s);
        }

        double max = double.MinValue;
        for (int k = 0; k < c; k++)
        {
            double s = b2[k];
            for (int j = 0; j < hidden; j++)
            {
                s += w2[k, j] * h[j];
            }

            p[k] = s;
            max = Math.Max(max, s);
        }

        double sum = 0;
        for (int k = 0; k < c; k++)
        {
            p[k] = Math.Exp(p[k] - max);
            sum += p[k];
        }

        for (int k = 0; k < c; k++)
        {
            p[k] /= sum;
        }
    }

    private static double[,] Init(Random rng, int rows, int cols)
    {
        var w = new double[rows, cols];
        double a = Math.Sqrt(6.0 / (rows + cols));
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                w[r, c] = ((rng.NextDouble() * 2) - 1) * a;
            }
        }

        return w;
    }

    private static float[][] ToFloat(double[,] w) =>
        Enumerable.Range(0, w.GetLength(0)).Select(r => Enumerable.Range(0, w.GetLength(1)).Select(c => (float)w[r, c]).ToArray()).ToArray();

    private sealed class Adam(int size)
    {
        private readonly double[] _m = new double[size];
        private readonly double[] _v = new double[size];
        private int _t;

        public void Step(double[,] w1, double[,] g1, double[] b1, double[] gb1, double[,] w2, double[,] g2, double[] b2, double[] gb2, double weightDecay)
        {
            _t++;
            int k = 0;
            Update(w1, g1, ref k, weightDecay);
            Update(b1, gb1, ref k);
            Update(w2, g2, ref k, weightDecay);
            Update(b2, gb2, ref k);
        }

        private void Update(double[,] w, double[,] g, ref int k, double decay)
        {
            for (int r = 0; r < w.GetLength(0); r++)
            {
                for (int c = 0; c < w.GetLength(1); c++)
                {
                    w[r, c] -= Delta(k++, g[r, c] + (decay * w[r, c]));
                }
            }
        }

        private void Update(double[] w, double[] g, ref int k)
        {
            for (int i = 0; i < w.Length; i++)
            {
                w[i] -= Delta(k++, g[i]);
            }
        }

        private double Delta(int k, double g)
        {
            const double lr = 0.01, b1 = 0.9, b2 = 0.999;
            _m[k] = (b1 * _m[k]) + ((1 - b1) * g);
            _v[k] = (b2 * _v[k]) + ((1 - b2) * g * g);
            double mh = _m[k] / (1 - Math.Pow(b1, _t));
            double vh = _v[k] / (1 - Math.Pow(b2, _t));
            return lr * mh / (Math.Sqrt(vh) + 1e-8);
        }
    }
}
