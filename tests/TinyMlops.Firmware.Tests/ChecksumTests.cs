using System;
using System.Text;
using TinyMlops.Firmware.Core.Common;
using Xunit;

namespace TinyMlops.Firmware.Tests;

public class ChecksumTests
{
    [Fact]
    public void Crc32_matches_the_standard_check_value()
    {
        byte[] data = Encoding.ASCII.GetBytes("123456789");
        Assert.Equal(0xCBF43926u, Crc32.Compute(data, 0, data.Length));
    }

    [Fact]
    public void Crc32_incremental_equals_one_shot()
    {
        var rng = new Random(1);
        var data = new byte[1000];
        rng.NextBytes(data);
        uint running = Crc32.Update(Crc32.Start(), data, 0, 333);
        running = Crc32.Update(running, data, 333, 667);
        Assert.Equal(Crc32.Compute(data, 0, data.Length), Crc32.Finish(running));
    }

    /// <summary>The sliced CRC against a bit-at-a-time one, for every length and alignment around the 4-byte step.</summary>
    [Fact]
    public void Crc32_sliced_by_four_equals_the_bitwise_definition()
    {
        var rng = new Random(3);
        var data = new byte[300];
        rng.NextBytes(data);
        for (int offset = 0; offset < 5; offset++)
        {
            for (int count = 0; count <= 70; count++)
            {
                uint c = 0xFFFFFFFFu;
                for (int i = offset; i < offset + count; i++)
                {
                    c ^= data[i];
                    for (int k = 0; k < 8; k++)
                    {
                        c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                    }
                }

                Assert.Equal(c ^ 0xFFFFFFFFu, Crc32.Compute(data, offset, count));
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(55)]
    [InlineData(56)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(1000)]
    [InlineData(70001)]
    public void Sha256_matches_the_platform_implementation(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        byte[] expected = System.Security.Cryptography.SHA256.HashData(data);
        Assert.Equal(expected, Sha256.Hash(data, 0, length));

        var s = new Sha256();
        for (int o = 0; o < length; o += 37)
        {
            s.Update(data, o, Math.Min(37, length - o));
        }

        Assert.Equal(expected, s.Finish());
    }

    [Fact]
    public void Sha256_of_abc_is_the_FIPS_example()
    {
        byte[] abc = Encoding.ASCII.GetBytes("abc");
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Convert.ToHexStringLower(Sha256.Hash(abc, 0, 3)));
    }

    [Fact]
    public void Bad_ranges_are_refused()
    {
        var data = new byte[4];
        Assert.Throws<ArgumentOutOfRangeException>(() => Crc32.Compute(data, 2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sha256().Update(data, -1, 2));
    }
}
