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

    /// <summary>Decoupled weight decay per Adam step unless a run asks for another.</summary>
    public const double DefaultWeightDecay = 1e-4;

    /// <summary>Trains on <paramref name="x"/> with class indices <paramref name="y"/>, decaying weights by <paramref name="weightDecay"/> per step.</summary>
    public static MlpClassifier Train(float[][] x, int[] y, string[] classes, int hidden, int epochs, int seed, IProgress<string>? progress = null, double weightDecay = DefaultWeightDecay)
    {
        int n = x[0].Length, c = classes.Length;
        Quantization.FloatDetector standardisation = Quantization.FloatDetector.FitStandardisation(x);
        var rng = new Random(seed);
        double[,] w1 = Init(rng, hidden, n), w2 = Init(rng, c, hidden);
        var net = new Net(w1, new double[hidden], w2, new double[c]);
        var model = new MlpClassifier { Classes = classes, Mean = standardisation.Mean, Std = standardisation.Std, W1 = [], B1 = [], W2 = [], B2 = [] };
        Optimise(net, model.Standardise(x), y, c, epochs, rng, learningRate: 0.01, ranges: null, progress, "verifier", weightDecay);
        return model.With(net);
    }

    /// <summary>
    /// Quantisation-aware fine-tuning: continues training with the int8 graph's arithmetic in the forward pass
    /// (per-channel symmetric weights, <paramref name="ranges"/> on the activations, rounding half to even as ONNX
    /// Runtime's QuantizeLinear does) and straight-through gradients, so the weights settle where int8 decides as
    /// float did. The activation ranges stay fixed; export with the same <paramref name="ranges"/>.
    /// </summary>
    public MlpClassifier FineTuneForInt8(float[][] x, int[] y, QdqRanges ranges, int epochs, int seed, IProgress<string>? progress = null)
    {
        var net = new Net(ToDouble(W1), B1.Select(v => (double)v).ToArray(), ToDouble(W2), B2.Select(v => (double)v).ToArray());
        Optimise(net, Standardise(x), y, Classes.Length, epochs, new Random(seed), learningRate: 0.001, ranges, progress, "verifier int8 fine-tuning", DefaultWeightDecay);
        return With(net);
    }

    private float[][] Standardise(float[][] x) => x.Select(r => r.Select((v, i) => (v - Mean[i]) / Std[i]).ToArray()).ToArray();

    private MlpClassifier With(Net net) => new()
    {
        Classes = Classes,
        Mean = Mean,
        Std = Std,
        W1 = ToFloat(net.W1),
        B1 = net.B1.Select(v => (float)v).ToArray(),
        W2 = ToFloat(net.W2),
        B2 = net.B2.Select(v => (float)v).ToArray(),
    };

    private sealed record Net(double[,] W1, double[] B1, double[,] W2, double[] B2);

    // Class-balanced cross-entropy, Adam, mini-batches of 64; with ranges, the forward pass is the int8 graph's.
    private static void Optimise(Net net, float[][] z, int[] y, int c, int epochs, Random rng, double learningRate, QdqRanges? ranges, IProgress<string>? progress, string what, double weightDecay)
    {
        int n = z[0].Length, hidden = net.B1.Length;
        int[] counts = new int[c];
        foreach (int label in y)
        {
            counts[label]++;
        }

        double[] classWeight = counts.Select(k => k == 0 ? 0 : (double)y.Length / (c * k)).ToArray();
        var adam = new Adam(hidden * n + hidden + c * hidden + c, learningRate);
        var h = new double[hidden];
        var p = new double[c];
        var zi = new double[n];
        var pass = new bool[hidden];
        double[,] w1 = net.W1, w2 = net.W2;
        const int batch = 64;
        int[] order = Enumerable.Range(0, z.Length).ToArray();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            for (int i = order.Length - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }

            // Straight-through: the gradient reaches the float weights as if the quantised ones were them.
            double[,] fw1 = ranges == null ? w1 : FakeQuantRows(w1);
            double[,] fw2 = ranges == null ? w2 : FakeQuantRows(w2);
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
                    float[] xs = z[order[s]];
                    for (int i = 0; i < n; i++)
                    {
                        zi[i] = ranges == null ? xs[i] : FakeQuant(xs[i], ranges.InputScale[i], ranges.InputZero[i], out _);
                    }

                    int yi = y[order[s]];
                    Forward(zi, fw1, net.B1, fw2, net.B2, ranges, h, pass, p);
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
                            dh[j] += d * fw2[k, j];
                        }
                    }

                    for (int j = 0; j < hidden; j++)
                    {
                        if (!pass[j])
                        {
                            continue;
                        }

                        gb1[j] += dh[j];
                        for (int i = 0; i < n; i++)
                        {
                            gw1[j, i] += dh[j] * zi[i];
                        }
                    }
                }

                adam.Step(w1, gw1, net.B1, gb1, w2, gw2, net.B2, gb2, weightDecay);
                if (ranges != null)
                {
                    fw1 = FakeQuantRows(w1);
                    fw2 = FakeQuantRows(w2);
                }
            }

            if (progress != null && (epoch + 1) % 50 == 0)
            {
                progress.Report($"{what}: epoch {epoch + 1}/{epochs}, loss {loss / Math.Ceiling(order.Length / (double)batch):F4}");
            }
        }
    }

    // QuantizeLinear then DequantizeLinear, in float as ONNX Runtime computes them; inRange is false where it saturates.
    private static double FakeQuant(double v, float scale, sbyte zero, out bool inRange)
    {
        float q = MathF.Round((float)v / scale, MidpointRounding.ToEven) + zero;
        inRange = q >= -128 && q <= 127;
        return (Math.Clamp(q, -128f, 127f) - zero) * scale;
    }

    private static double[,] FakeQuantRows(double[,] w)
    {
        int rows = w.GetLength(0), cols = w.GetLength(1);
        var q = new double[rows, cols];
        for (int r = 0; r < rows; r++)
        {
            float[] row = Enumerable.Range(0, cols).Select(k => (float)w[r, k]).ToArray();
            (float scale, sbyte[] values) = QuantizeRow(row);
            for (int k = 0; k < cols; k++)
            {
                q[r, k] = values[k] * scale;
            }
        }

        return q;
    }

    private static (float Scale, sbyte[] Values) QuantizeRow(float[] row)
    {
        float max = row.Max(v => Math.Abs(v));
        float scale = max > 0 ? max / 127f : 1f / 127f;
        return (scale, row.Select(v => (sbyte)Math.Clamp(Math.Round(v / scale, MidpointRounding.AwayFromZero), -127, 127)).ToArray());
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

    /// <summary>
    /// Class probabilities as the int8 QDQ graph with <paramref name="ranges"/> computes them: the forward pass that
    /// <see cref="FineTuneForInt8"/> trains through.
    /// </summary>
    public float[] PredictQuantized(float[] x, QdqRanges ranges)
    {
        int n = Mean.Length, hidden = B1.Length;
        var z = new double[n];
        for (int i = 0; i < n; i++)
        {
            z[i] = FakeQuant((x[i] - Mean[i]) / Std[i], ranges.InputScale[i], ranges.InputZero[i], out _);
        }

        var p = new double[B2.Length];
        Forward(z, FakeQuantRows(ToDouble(W1)), B1.Select(v => (double)v).ToArray(), FakeQuantRows(ToDouble(W2)), B2.Select(v => (double)v).ToArray(), ranges, new double[hidden], new bool[hidden], p);
        return p.Select(v => (float)v).ToArray();
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
    /// Activation ranges for the int8 graph from <paramref name="calibration"/> windows: the standardised input and
    /// the hidden activations, asymmetric int8, one range per channel or per tensor. <paramref name="tail"/>: share of
    /// calibration values left outside each range at each end (0 = min/max).
    /// </summary>
    public QdqRanges Calibrate(float[][] calibration, double tail, bool perChannelInput, bool perChannelHidden)
    {
        int n = Mean.Length, hidden = B1.Length;
        List<float>[] zs = Enumerable.Range(0, n).Select(_ => new List<float>()).ToArray();
        List<float>[] hs = Enumerable.Range(0, hidden).Select(_ => new List<float>()).ToArray();
        foreach (float[] z in Standardise(calibration))
        {
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
        // Per channel or per tensor: fault windows stretch some features far more than others, and a shared range
        // leaves the rest few steps; which works better depends on the data, so the caller tries both.
        (float[] zScale, sbyte[] zZero) = Ranges(zs, tail, perChannelInput, lowerTail: true);
        (float[] hScale, sbyte[] hZero) = Ranges(hs, tail, perChannelHidden, lowerTail: false);
        return new QdqRanges(zScale, zZero, hScale, hZero, $"tail {tail}, input {(perChannelInput ? "per channel" : "per tensor")}, hidden {(perChannelHidden ? "per channel" : "per tensor")}");
    }

    /// <summary>
    /// The int8 QDQ ONNX model: standardised input and hidden activations quantised with <paramref name="ranges"/>,
    /// weights per output channel (symmetric int8), biases float. ONNX Runtime runs the Q/DQ pairs around each Gemm
    /// as int8 kernels where it can.
    /// </summary>
    public byte[] ToQdqOnnx(QdqRanges ranges, string producerVersion, long modelVersion, IReadOnlyDictionary<string, string> metadata)
    {
        int n = Mean.Length, hidden = B1.Length, c = B2.Length;
        var g = new OnnxGraphBuilder("tinymlops_verifier_int8").Input("features", n).Output("probabilities", c);
        string centred = g.Node("Sub", "centred", new[] { "features", g.Constant("mean", Mean, 1, n) });
        string z0 = g.Node("Div", "standardised", new[] { centred, g.Constant("std", Std, 1, n) });
        string zq = g.Node("QuantizeLinear", "standardised_q", new[] { z0, g.Constant("z_scale", ranges.InputScale, n), g.ConstantInt8("z_zero", ranges.InputZero, n) }, ("axis", 1L));
        string zd = g.Node("DequantizeLinear", "standardised_dq", new[] { zq, "z_scale", "z_zero" }, ("axis", 1L));
        string w1 = Weights(g, "W1", W1);
        string a = g.Node("Gemm", "hidden_pre", new[] { zd, w1, g.Constant("B1", B1, hidden) }, ("transB", 1L));
        string r = g.Node("Relu", "hidden", new[] { a });
        string hq = g.Node("QuantizeLinear", "hidden_q", new[] { r, g.Constant("h_scale", ranges.HiddenScale, hidden), g.ConstantInt8("h_zero", ranges.HiddenZero, hidden) }, ("axis", 1L));
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
            (scales[r], sbyte[] values) = QuantizeRow(w[r]);
            values.CopyTo(q, r * cols);
        }

        g.ConstantInt8(name + "_q", q, rows, cols);
        g.Constant(name + "_scale", scales, rows);
        g.ConstantInt8(name + "_zero", new sbyte[rows], rows);
        return g.Node("DequantizeLinear", name + "_dq", new[] { name + "_q", name + "_scale", name + "_zero" }, ("axis", 0L));
    }

    private static void Forward(double[] z, double[,] w1, double[] b1, double[,] w2, double[] b2, QdqRanges? ranges, double[] h, bool[] pass, double[] p)
    {
        int hidden = b1.Length, n = z.Length, c = b2.Length;
        for (int j = 0; j < hidden; j++)
        {
            double s = b1[j];
            for (int i = 0; i < n; i++)
            {
                s += w1[j, i] * z[i];
            }

            h[j] = Math.Max(0, s);
            pass[j] = s > 0;
            if (ranges != null)
            {
                h[j] = FakeQuant(h[j], ranges.HiddenScale[j], ranges.HiddenZero[j], out bool inRange);
                pass[j] &= inRange;
            }
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

    private static double[,] ToDouble(float[][] w)
    {
        var d = new double[w.Length, w[0].Length];
        for (int r = 0; r < w.Length; r++)
        {
            for (int k = 0; k < w[0].Length; k++)
            {
                d[r, k] = w[r][k];
            }
        }

        return d;
    }

    private static float[][] ToFloat(double[,] w) =>
        Enumerable.Range(0, w.GetLength(0)).Select(r => Enumerable.Range(0, w.GetLength(1)).Select(c => (float)w[r, c]).ToArray()).ToArray();

    private sealed class Adam(int size, double lr)
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
            const double b1 = 0.9, b2 = 0.999;
            _m[k] = (b1 * _m[k]) + ((1 - b1) * g);
            _v[k] = (b2 * _v[k]) + ((1 - b2) * g * g);
            double mh = _m[k] / (1 - Math.Pow(b1, _t));
            double vh = _v[k] / (1 - Math.Pow(b2, _t));
            return lr * mh / (Math.Sqrt(vh) + 1e-8);
        }
    }
}

/// <summary>Activation quantisation of the verifier's int8 graph (scale and zero point per channel).</summary>
/// <param name="InputScale">Standardised input scales.</param>
/// <param name="InputZero">Standardised input zero points.</param>
/// <param name="HiddenScale">Hidden activation scales.</param>
/// <param name="HiddenZero">Hidden activation zero points.</param>
/// <param name="Description">How the ranges were chosen.</param>
public sealed record QdqRanges(float[] InputScale, sbyte[] InputZero, float[] HiddenScale, sbyte[] HiddenZero, string Description);
