using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TinyMlops.Quantization;
using TinyMlops.Tests.Shared;
using Xunit;

namespace TinyMlops.Firmware.Tests;

public class ConformanceTests
{
    public static IEnumerable<object[]> Cases() =>
        Directory.GetDirectories(Repo.Conformance).OrderBy(d => d, StringComparer.Ordinal).Select(d => new object[] { Path.GetFileName(d) });

    [Theory]
    [MemberData(nameof(Cases))]
    public void Firmware_interpreter_reproduces_the_vectors_bit_for_bit(string name)
    {
        (byte[] blob, float[][] inputs, byte[][] expected) = ConformanceVectors.Read(Path.Combine(Repo.Conformance, name));
        int rows = ConformanceCases.Run(name, blob, inputs.SelectMany(r => r).ToArray(), expected.SelectMany(r => r).ToArray());
        Assert.Equal(inputs.Length, rows);
    }

    [Fact]
    public void Every_case_is_present()
    {
        string[] names = ConformanceVectors.Build().Select(c => c.Name).ToArray();
        Assert.Equal(names.OrderBy(n => n, StringComparer.Ordinal), Cases().Select(c => (string)c[0]));
        Assert.True(names.Length >= 6);
    }

    [Fact]
    public void Regenerating_the_vectors_gives_the_committed_files()
    {
        string temp = Path.Combine(Path.GetTempPath(), "tinymlops-conformance-" + Guid.NewGuid().ToString("N"));
        try
        {
            ConformanceVectors.Write(temp, ConformanceVectors.Build());
            foreach (string dir in Directory.GetDirectories(temp))
            {
                foreach (string file in Directory.GetFiles(dir))
                {
                    string committed = Path.Combine(Repo.Conformance, Path.GetFileName(dir), Path.GetFileName(file));
                    Assert.True(File.Exists(committed), committed + " is missing: run `dotnet run -c Release --project tools/TinyMlops.Cli -- conformance`");
                    Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(committed)), committed + " is stale: run `dotnet run -c Release --project tools/TinyMlops.Cli -- conformance`");
                }
            }
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    [Fact]
    public void Device_test_data_matches_the_vector_files()
    {
        // The NFUnitTest project cannot read files on a device, so it carries the vectors as generated source.
        string generated = Path.Combine(Repo.Root, "firmware", "NFUnitTest", "ConformanceData.g.cs");
        Assert.Equal(ConformanceSource.Generate(Repo.Conformance), File.ReadAllText(generated));
    }
}
