using System;
using TinyMlops.Firmware.Core;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Tests.Shared;
using Xunit;

namespace TinyMlops.Firmware.Tests;

/// <summary>
/// The host build of the core runs against stand-ins that behave as nanoFramework's classes do where .NET's differ
/// (firmware/Core.HostShims). One test per difference: what the stand-in does, and that the core survives it.
/// </summary>
public class NanoSemanticsTests
{
    [Fact]
    public void The_HMAC_stand_in_keeps_the_callers_key_and_clears_it_on_dispose_as_nanoFramework_does()
    {
        byte[] key = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
        byte[] expected = System.Security.Cryptography.HMACSHA256.HashData(key, new byte[] { 42 });
        using (var h = new HMACSHA256(key))
        {
            Assert.Equal(expected, h.ComputeHash(new byte[] { 42 }));
        }

        Assert.All(key, b => Assert.Equal(0, b));
    }

    [Fact]
    public void The_node_key_survives_every_manifest_check_and_an_empty_key_never_signs_an_update()
    {
        byte[] key = (byte[])UpdateCases.NodeKey.Clone();
        int clearedBefore = HMACSHA256.KeysCleared;
        var node = new ModelUpdater(new FaultyStorage(), key, UpdateCases.NodeId, ModelFormat.BoardClassAny, UpdateCases.MaxModelBytes, 0);
        node.Boot();
        float[] golden = UpdateCases.Golden();
        byte[] v1 = UpdateCases.AsVersion(ModelLoaderTests.Blob("pca-36-6"), 1), v2 = UpdateCases.AsVersion(ModelLoaderTests.Blob("kmeans-36-8"), 2);

        Assert.Equal(UpdateState.Confirmed, UpdateCases.Deliver(node, UpdateCases.Manifest(v1, 1, golden, false), v1, 1).State);
        // With the key handed to HMACSHA256 as it was, this second genuine update was refused on the device: the
        // first check's Dispose had zeroed the node's key.
        OtaStatusMessageAssert(UpdateCases.Deliver(node, UpdateCases.Manifest(v2, 2, golden, false), v2, 2), UpdateState.Confirmed);
        Assert.True(HMACSHA256.KeysCleared > clearedBefore, "the core did not go through the nanoFramework stand-in");
        Assert.Equal(UpdateCases.NodeKey, key); // the caller's array is untouched too

        // HMAC pads keys with zeros: a cleared key would have made a manifest MAC'd with an empty key verify.
        Assert.Equal(UpdateError.None, UpdateManifest.TryParse(UpdateCases.Manifest(v1, 3, golden, false), UpdateCases.NodeKey, out UpdateManifest? m));
        byte[] forged = m!.EncodeAndSign(Array.Empty<byte>());
        Assert.Equal(UpdateError.BadSignature, node.Offer(forged).Error);
        Assert.Equal(UpdateError.BadSignature, node.Offer(m.EncodeAndSign(new byte[UpdateCases.NodeKey.Length])).Error);
    }

    /// <summary>
    /// nanoFramework's ESP32 firmware computes System.Math's double functions in float. The core reaches them only
    /// through <c>Math</c>, which on the host is the stand-in that does the same, so host features are the device's.
    /// </summary>
    [Fact]
    public void The_core_computes_math_at_float_precision_as_the_ESP32_firmware_does()
    {
        var rng = new Random(5);
        int differFromDouble = 0;
        for (int i = 0; i < 200000; i++)
        {
            float x = (float)(rng.NextDouble() * 1000) + 1e-3f;
            Assert.Equal(MathF.Log10(x), SystemFloatMath.Instance.Log10(x));
            Assert.Equal(MathF.Sin(x), SystemFloatMath.Instance.Sin(x));
            Assert.Equal(MathF.Cos(x), SystemFloatMath.Instance.Cos(x));
            Assert.Equal(MathF.Sqrt(x), SystemFloatMath.Instance.Sqrt(x));
            if ((float)System.Math.Log10(x) != MathF.Log10(x) || (float)System.Math.Sin(x) != MathF.Sin(x) || (float)System.Math.Cos(x) != MathF.Cos(x))
            {
                differFromDouble++;
            }
        }

        // The stand-in matters: double functions rounded to float give other results for some inputs.
        Assert.True(differFromDouble > 0, "float and double math agreed everywhere: the test cannot tell them apart");
    }

    /// <summary>Core code reaches System.Math only through the stand-in's name, so no call escapes float precision.</summary>
    [Fact]
    public void No_core_file_calls_System_Math_by_its_full_name()
    {
        foreach (string file in System.IO.Directory.GetFiles(System.IO.Path.Combine(Repo.Root, "firmware", "Core"), "*.cs", System.IO.SearchOption.AllDirectories))
        {
            if (file.Contains($"{System.IO.Path.DirectorySeparatorChar}obj{System.IO.Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            {
                continue;
            }

            string text = System.IO.File.ReadAllText(file).Replace("System.Math.PI", "", StringComparison.Ordinal);
            Assert.False(text.Contains("System.Math.", StringComparison.Ordinal), $"{file} calls System.Math directly; call Math (the host stand-in computes at float precision as the device does)");
        }
    }

    private static void OtaStatusMessageAssert(Core.Wire.OtaStatusMessage s, int state) => Assert.True(s.State == state, $"state {s.State}, error {s.Error}");
}
