using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using TinyMlops.Quantization;

namespace TinyMlops.Trainer.Models;

/// <summary>
/// The node's detector: ML.NET's RandomizedPca fitted on healthy windows only (standardised features); the score
/// is the squared reconstruction error in standardised units. Maps onto the firmware format as QUANTIZE → FC
/// (encode, rank outputs) → FC (decode) → SQUARED_ERROR.
/// </summary>
public static class PcaDetector
{
    private sealed class Row
    {
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    /// <summary>Fits a rank-<paramref name="rank"/> PCA on <paramref name="healthy"/> with a seeded ML.NET context.</summary>
    public static FloatDetector Fit(float[][] healthy, int rank, int seed)
    {
        int n = healthy[0].Length;
        FloatDetector standardise = FloatDetector.FitStandardisation(healthy);
        float[][] z = healthy.Select(standardise.Standardize).ToArray();
        var ml = new MLContext(seed);
        SchemaDefinition schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, n);
        IDataView data = ml.Data.LoadFromEnumerable(z.Select(r => new Row { Features = r }), schema);
        var trainer = ml.AnomalyDetection.Trainers.RandomizedPca(new RandomizedPcaTrainer.Options
        {
            FeatureColumnName = nameof(Row.Features),
            Rank = Math.Min(rank, n - 1),
            EnsureZeroMean = true,
            Seed = seed,
            Oversampling = 20,
        });
        PcaModelParameters model = trainer.Fit(data).Model;
        VBuffer<float>[] vectors = Array.Empty<VBuffer<float>>();
        model.GetEigenVectors(ref vectors, out int found);
        VBuffer<float> meanBuffer = default;
        model.GetMean(ref meanBuffer);
        float[] mu = meanBuffer.DenseValues().ToArray();
        if (mu.Length != n)
        {
            mu = new float[n];
        }

        float[][] w = vectors.Take(found).Select(v => v.DenseValues().ToArray()).ToArray();
        int k = w.Length;
        // encode: c = W (z − μ) = W z − W μ ; decode: r = Wᵀ c + μ
        float[] encodeBias = w.Select(row => -row.Select((v, i) => v * mu[i]).Sum()).ToArray();
        float[][] wt = Enumerable.Range(0, n).Select(i => Enumerable.Range(0, k).Select(j => w[j][i]).ToArray()).ToArray();
        return new FloatDetector
        {
            Mean = standardise.Mean,
            Std = standardise.Std,
            Head = DetectorHead.ReconstructionError,
            Layers = { new DenseLayer(w, encodeBias, false), new DenseLayer(wt, mu, false) },
        };
    }

    /// <summary>The threshold that flags at most <paramref name="falseAlarmRate"/> of <paramref name="healthyScores"/>.</summary>
    public static double ThresholdFor(IEnumerable<double> healthyScores, double falseAlarmRate)
    {
        double[] s = healthyScores.OrderBy(v => v).ToArray();
        if (s.Length == 0)
        {
            throw new ArgumentException("no healthy validation windows to choose a threshold on");
        }

        int index = (int)Math.Ceiling((1 - falseAlarmRate) * s.Length) - 1;
        return s[Math.Clamp(index, 0, s.Length - 1)];
    }
}
