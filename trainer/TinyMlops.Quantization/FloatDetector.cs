using System;
using System.Collections.Generic;
using System.Linq;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Quantization;

/// <summary>A dense layer y = W x + b, optionally followed by ReLU. W is [outputs][inputs].</summary>
public sealed record DenseLayer(float[][] Weights, float[] Bias, bool Relu)
{
    /// <summary>Output count.</summary>
    public int Outputs => Weights.Length;

    /// <summary>Input count.</summary>
    public int Inputs => Weights[0].Length;
}

/// <summary>How the last values become the model output.</summary>
public enum DetectorHead
{
    /// <summary>The last layer's outputs are the model output (logistic/linear score, classifier logits).</summary>
    Direct,

    /// <summary>Sum of squared differences between the standardised input and the last layer (PCA, autoencoder).</summary>
    ReconstructionError,

    /// <summary>Squared distance from the standardised input (or the last layer) to the nearest centroid (k-means).</summary>
    CentroidDistance,
}

/// <summary>
/// A float detector over feature vectors: standardisation, dense layers, a head. It covers the trainer's
/// detectors (PCA reconstruction, logistic/linear, k-means distance, small MLP/autoencoder) and quantises to the
/// firmware format with <see cref="PostTrainingQuantizer"/>.
/// </summary>
public sealed class FloatDetector
{
    /// <summary>Per-feature mean.</summary>
    public required float[] Mean { get; init; }

    /// <summary>Per-feature standard deviation (never 0).</summary>
    public required float[] Std { get; init; }

    /// <summary>Dense layers, applied in order to the standardised features.</summary>
    public List<DenseLayer> Layers { get; init; } = new();

    /// <summary>Output head.</summary>
    public DetectorHead Head { get; init; }

    /// <summary>Centroids in standardised space, for <see cref="DetectorHead.CentroidDistance"/>.</summary>
    public float[][]? Centroids { get; init; }

    /// <summary>Decision threshold on the float output (score &gt; threshold = anomalous / positive).</summary>
    public double Threshold { get; set; }

    /// <summary>Feature count.</summary>
    public int InputLength => Mean.Length;

    /// <summary>Per-feature mean and standard deviation (floored at 1e-6) of <paramref name="x"/>, as a detector with no layers.</summary>
    public static FloatDetector FitStandardisation(IReadOnlyList<float[]> x)
    {
        int n = x[0].Length;
        var mean = new float[n];
        var std = new float[n];
        for (int i = 0; i < n; i++)
        {
            double m = x.Average(r => (double)r[i]);
            mean[i] = (float)m;
            std[i] = (float)Math.Max(1e-6, Math.Sqrt(x.Average(r => (r[i] - m) * (r[i] - m))));
        }

        return new FloatDetector { Mean = mean, Std = std, Head = DetectorHead.Direct };
    }

    /// <summary>Standardised input.</summary>
    public float[] Standardize(float[] x)
    {
        var z = new float[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            z[i] = (x[i] - Mean[i]) / Std[i];
        }

        return z;
    }

    /// <summary>Activations after each layer (index 0 = standardised input).</summary>
    public List<float[]> Trace(float[] x)
    {
        var values = new List<float[]> { Standardize(x) };
        foreach (DenseLayer layer in Layers)
        {
            float[] input = values[^1];
            var y = new float[layer.Outputs];
            for (int o = 0; o < y.Length; o++)
            {
                double s = layer.Bias[o];
                for (int i = 0; i < input.Length; i++)
                {
                    s += layer.Weights[o][i] * (double)input[i];
                }

                y[o] = layer.Relu ? (float)Math.Max(0, s) : (float)s;
            }

            values.Add(y);
        }

        return values;
    }

    /// <summary>The float model's score (output element 0).</summary>
    public double Score(float[] x)
    {
        List<float[]> t = Trace(x);
        float[] z = t[0];
        float[] last = t[^1];
        switch (Head)
        {
            case DetectorHead.Direct:
                return last[0];
            case DetectorHead.ReconstructionError:
                double e = 0;
                for (int i = 0; i < z.Length; i++)
                {
                    e += (z[i] - last[i]) * (double)(z[i] - last[i]);
                }

                return e;
            default:
                return Centroids!.Min(c => c.Select((v, i) => (v - (double)last[i]) * (v - last[i])).Sum());
        }
    }
}

/// <summary>
/// Post-training int8 quantisation of a <see cref="FloatDetector"/> with calibration data: per-output-channel
/// symmetric int8 weights, int32 bias, asymmetric int8 activations with ranges from the calibration set, and Q31
/// requantisation multipliers (TFLM's scheme). Deterministic: same detector and data give the same bytes.
/// </summary>
public static class PostTrainingQuantizer
{
    /// <summary>
    /// Quantises <paramref name="detector"/> using <paramref name="calibration"/> feature vectors. Each activation
    /// range spans the calibration values, less <paramref name="tail"/> of them at each end (0 = min/max): values
    /// beyond saturate, and the steps go where most windows are.
    /// </summary>
    public static QuantizedModel Quantize(FloatDetector detector, IReadOnlyList<float[]> calibration, uint modelId, uint modelVersion, int boardClass, double tail = 0)
    {
        if (calibration.Count == 0)
        {
            throw new ArgumentException("calibration needs at least one feature vector", nameof(calibration));
        }

        if (!(tail >= 0 && tail < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(tail), tail, "the range tail is a share in [0, 0.5)");
        }

        int layers = detector.Layers.Count;
        var lo = new double[layers + 1];
        var hi = new double[layers + 1];
        var values = new List<float>[layers + 1];
        for (int l = 0; l <= layers; l++)
        {
            values[l] = new List<float>();
        }

        foreach (float[] x in calibration)
        {
            List<float[]> t = detector.Trace(x);
            for (int l = 0; l <= layers; l++)
            {
                values[l].AddRange(t[l]);
            }
        }

        for (int l = 0; l <= layers; l++)
        {
            float[] sorted = values[l].ToArray();
            Array.Sort(sorted);
            int cut = (int)Math.Floor(tail * (sorted.Length - 1));
            lo[l] = Math.Min(0, sorted[cut]);
            hi[l] = Math.Max(0, sorted[sorted.Length - 1 - cut]);
        }

        if (detector.Head == DetectorHead.CentroidDistance)
        {
            foreach (float[] c in detector.Centroids!)
            {
                foreach (float v in c)
                {
                    lo[layers] = Math.Min(lo[layers], v);
                    hi[layers] = Math.Max(hi[layers], v);
                }
            }
        }

        // A reconstruction must be compared in the input's units: input and last layer share one quantisation.
        if (detector.Head == DetectorHead.ReconstructionError)
        {
            lo[0] = lo[layers] = Math.Min(lo[0], lo[layers]);
            hi[0] = hi[layers] = Math.Max(hi[0], hi[layers]);
        }

        var m = new QuantizedModel
        {
            ModelId = modelId,
            ModelVersion = modelVersion,
            BoardClass = boardClass,
            IsAnomalyScore = detector.Head != DetectorHead.Direct,
        };
        int n = detector.InputLength;
        int input = m.AddInput(n);
        (float inScale, int inZp) = ActivationQuantization(lo[0], hi[0]);
        var mul = new float[n];
        var add = new float[n];
        for (int i = 0; i < n; i++)
        {
            double a = 1.0 / (detector.Std[i] * (double)inScale);
            mul[i] = (float)a;
            add[i] = (float)((-detector.Mean[i] * a) + inZp);
        }

        int current = m.AddInt8(n, inScale, inZp);
        int quantizedInput = current;
        m.Ops.Add(new OpSpec(ModelFormat.OpQuantize, new[] { input, m.AddConst(mul), m.AddConst(add), current }));
        float scale = inScale;
        for (int l = 0; l < layers; l++)
        {
            DenseLayer layer = detector.Layers[l];
            (float outScale, int outZp) = l == layers - 1 && detector.Head == DetectorHead.ReconstructionError
                ? (inScale, inZp)
                : ActivationQuantization(lo[l + 1], hi[l + 1]);
            var w = new sbyte[layer.Outputs * layer.Inputs];
            var bias = new int[layer.Outputs];
            var mult = new int[layer.Outputs];
            var shift = new sbyte[layer.Outputs];
            for (int o = 0; o < layer.Outputs; o++)
            {
                double maxAbs = layer.Weights[o].Max(v => Math.Abs((double)v));
                double ws = maxAbs > 0 ? maxAbs / 127.0 : 1.0 / 127.0;
                for (int i = 0; i < layer.Inputs; i++)
                {
                    w[(o * layer.Inputs) + i] = (sbyte)Math.Clamp(Math.Round(layer.Weights[o][i] / ws, MidpointRounding.AwayFromZero), -127, 127);
                }

                bias[o] = (int)Math.Clamp(Math.Round(layer.Bias[o] / (scale * ws), MidpointRounding.AwayFromZero), int.MinValue / 2, int.MaxValue / 2);
                (mult[o], int s) = ReferenceInterpreter.QuantizeMultiplier(scale * ws / outScale);
                shift[o] = (sbyte)s;
            }

            int output = m.AddInt8(layer.Outputs, outScale, outZp);
            int actMin = layer.Relu ? outZp : -128;
            m.Ops.Add(new OpSpec(ModelFormat.OpFullyConnected, new[] { current, m.AddConst(w), m.AddConst(bias), m.AddConst(mult), m.AddConst(shift), output }, actMin, 127));
            current = output;
            scale = outScale;
        }

        switch (detector.Head)
        {
            case DetectorHead.Direct:
                m.OutputTensor = current;
                float directScale = m.Tensors[current].Scale;
                int directZp = m.Tensors[current].ZeroPoint;
                m.Threshold = (int)Math.Clamp(Math.Floor((detector.Threshold / directScale) + directZp), -129, 127);
                break;
            case DetectorHead.ReconstructionError:
            {
                float errorScale = inScale * inScale;
                int output = m.AddInt32(1, errorScale);
                m.Ops.Add(new OpSpec(ModelFormat.OpSquaredError, new[] { quantizedInput, current, output }));
                m.OutputTensor = output;
                m.Threshold = (int)Math.Min(int.MaxValue, Math.Floor(detector.Threshold / errorScale));
                break;
            }

            default:
            {
                var c = new sbyte[detector.Centroids!.Length * detector.Centroids[0].Length];
                for (int j = 0; j < detector.Centroids.Length; j++)
                {
                    for (int i = 0; i < detector.Centroids[j].Length; i++)
                    {
                        c[(j * detector.Centroids[j].Length) + i] = (sbyte)Math.Clamp(Math.Round((detector.Centroids[j][i] / scale) + m.Tensors[current].ZeroPoint, MidpointRounding.AwayFromZero), -128, 127);
                    }
                }

                float distanceScale = scale * scale;
                int output = m.AddInt32(2, distanceScale);
                m.Ops.Add(new OpSpec(ModelFormat.OpMinSquaredDistance, new[] { current, m.AddConst(c), output }));
                m.OutputTensor = output;
                m.Threshold = (int)Math.Min(int.MaxValue, Math.Floor(detector.Threshold / distanceScale));
                break;
            }
        }

        return m;
    }

    /// <summary>Asymmetric int8 quantisation covering [lo, hi] (widened to include 0): scale and zero point.</summary>
    public static (float Scale, int ZeroPoint) ActivationQuantization(double lo, double hi)
    {
        lo = Math.Min(lo, 0);
        hi = Math.Max(hi, 0);
        if (hi - lo < 1e-8)
        {
            hi = lo + 1e-8;
        }

        float scale = (float)((hi - lo) / 255.0);
        int zp = (int)Math.Clamp(Math.Round(-128 - (lo / scale), MidpointRounding.AwayFromZero), -128, 127);
        return (scale, zp);
    }
}
