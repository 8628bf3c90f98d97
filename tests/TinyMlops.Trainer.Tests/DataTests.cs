using System;
using System.IO;
using System.Linq;
using TinyMlops.Trainer.Data;
using Xunit;

namespace TinyMlops.Trainer.Tests;

public class DataTests
{
    [Fact]
    public void Resampling_keeps_a_tone_below_the_new_Nyquist_and_removes_one_above_it()
    {
        const double from = 20000, to = 1000;
        float[] Tone(double hz) => Enumerable.Range(0, 20000).Select(i => (float)Math.Sin(2 * Math.PI * hz * i / from)).ToArray();
        static double Rms(float[] x) => Math.Sqrt(x.Skip(100).Take(x.Length - 200).Average(v => (double)v * v));
        float[] kept = Resampler.Resample(Tone(120), from, to);
        float[] aliased = Resampler.Resample(Tone(1900), from, to); // would fold to 100 Hz without the anti-alias filter
        Assert.Equal(1000, kept.Length);
        Assert.InRange(Rms(kept), 0.70, 0.71);          // a unit sine has RMS 0.707
        Assert.True(Rms(aliased) < 0.001, $"1900 Hz leaked through as RMS {Rms(aliased):E2}");
        Assert.Equal(Tone(50), Resampler.Resample(Tone(50), from, from));
    }

    [Fact]
    public void Upsampling_interpolates_band_limited()
    {
        float[] x = Enumerable.Range(0, 500).Select(i => (float)Math.Sin(2 * Math.PI * 10 * i / 100.0)).ToArray();
        float[] y = Resampler.Resample(x, 100, 1000);
        Assert.Equal(5000, y.Length);
        for (int k = 200; k < 4800; k += 37)
        {
            Assert.InRange(y[k], Math.Sin(2 * Math.PI * 10 * k / 1000.0) - 0.01, Math.Sin(2 * Math.PI * 10 * k / 1000.0) + 0.01);
        }
    }

    [Theory]
    [InlineData("0600_GoB_GS_BaLo_WA_00lb.Wfm.csv", "healthy", "0600")]
    [InlineData("1200_LIR_GS_BaLo_WA_00lb.Wfm.csv", "bearing-inner", "1200")]
    [InlineData("3000_HOR_GS_BaLo_WA_00lb.Wfm.csv", "bearing-outer", "3000")]
    [InlineData("1800_LBF_GS_BaLo_WA_00lb.Wfm.csv", "bearing-ball", "1800")]
    [InlineData("2400_GoB_BS_BaLo_WA_00lb.Wfm.csv", "bent-shaft", "2400")]
    [InlineData("2400_GoB_GS_VHIL_WA_00lb.Wfm.csv", "imbalance", "2400")]
    [InlineData("0600_GoB_GS_BaLo_MA_00lb.Wfm.csv", "misalignment", "0600")]
    public void Adi_file_names_give_the_fault_class(string file, string label, string rpm)
    {
        Assert.Equal((label, rpm), DatasetLoader.AdiLabel(file));
    }

    [Fact]
    public void Adi_recordings_load_from_shared_at_20_kHz_with_a_hash()
    {
        Dataset d = DatasetLoader.Load(Paths.Adi);
        Assert.Equal("adi-cbm", d.Format);
        Assert.Equal(65, d.Recordings.Count);
        Assert.All(d.Recordings, r => Assert.Equal(20000, r.SampleRateHz));
        Assert.Equal(5, d.Recordings.Count(r => r.Healthy));
        Assert.Equal(7, d.Recordings.Select(r => r.Label).Distinct().Count());
        Assert.Equal(64, d.ContentHash.Length);
    }

    [Fact]
    public void The_shipped_fan_recording_loads_as_51_recordings_grouped_by_speed()
    {
        Dataset d = DatasetLoader.Load(Paths.Fan);
        Assert.Equal("uci-fan", d.Format);
        Assert.Equal(51, d.Recordings.Count);
        Assert.Equal(17, d.Recordings.Select(r => r.Group).Distinct().Count());
        Assert.Contains(d.Assumptions, a => a.Contains("sample rate"));
    }

    [Fact]
    public void Plain_csv_loads_and_malformed_files_name_file_and_line()
    {
        string dir = Paths.Temp("plain");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "a.csv"), "# tinymlops-recording sample_rate_hz=800 label=healthy group=line1\nx,y,z\n0.1,0.2,1.0\n0.0,0.1,0.9\n");
            Dataset d = DatasetLoader.Load(dir);
            Assert.Equal("plain-csv", d.Format);
            Assert.Equal(800, d.Recordings[0].SampleRateHz);
            Assert.Equal("line1", d.Recordings[0].Group);
            Assert.Equal(new[] { 1.0f, 0.9f }, d.Recordings[0].Z);

            File.WriteAllText(Path.Combine(dir, "b.csv"), "# tinymlops-recording sample_rate_hz=800 label=imbalance\nx,y,z\n0.1,NaN,1.0\n");
            Assert.Contains("b.csv:3", Assert.Throws<InvalidDataException>(() => DatasetLoader.Load(dir)).Message);
            File.WriteAllText(Path.Combine(dir, "b.csv"), "x,y,z\n0.1,0.2,1.0\n");
            Assert.Contains("b.csv:1", Assert.Throws<InvalidDataException>(() => DatasetLoader.Load(dir)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        Assert.Throws<DirectoryNotFoundException>(() => DatasetLoader.Load(Paths.Temp("missing")));
    }

    [Fact]
    public void Splits_keep_whole_groups_together_and_never_leave_one_empty()
    {
        string[] groups = { "0600", "1200", "1800", "2400", "3000" };
        var split = FeatureTable.SplitGroups(groups.Concat(groups), seed: 1);
        Assert.Equal(5, split.Count);
        Assert.Equal(3, split.Values.Count(s => s == Split.Train));
        Assert.Equal(1, split.Values.Count(s => s == Split.Validation));
        Assert.Equal(1, split.Values.Count(s => s == Split.Test));
        Assert.Equal(split, FeatureTable.SplitGroups(groups.Reverse(), seed: 1));
        Assert.Throws<ArgumentException>(() => FeatureTable.SplitGroups(new[] { "a", "b" }, 1));
    }
}

public class MetricsTests
{
    [Fact]
    public void Roc_auc_counts_ties_half_and_is_undefined_without_both_classes()
    {
        Assert.Equal(1.0, Metrics.RocAuc(new[] { 0.1, 0.2, 0.9 }, new[] { false, false, true }));
        Assert.Equal(0.5, Metrics.RocAuc(new[] { 0.5, 0.5 }, new[] { false, true }));
        Assert.True(double.IsNaN(Metrics.RocAuc(new[] { 0.5 }, new[] { true })));
    }

    [Fact]
    public void Multiclass_leaves_out_unknown_classes_and_absent_ones_from_the_macro_average()
    {
        MulticlassMetrics m = Metrics.Multiclass(new[] { 0, 0, 1, -1 }, new[] { 0, 1, 1, 0 }, new[] { "healthy", "imbalance", "bent-shaft" });
        Assert.Equal(new[] { 1, 1, 0 }, m.Confusion[0]);
        Assert.Equal(2.0 / 3.0, m.Accuracy, 9);
        Assert.Equal(((2 * 1.0 * 0.5 / 1.5) + (2 * 0.5 * 1.0 / 1.5)) / 2, m.MacroF1, 9); // bent-shaft has no support
    }
}
