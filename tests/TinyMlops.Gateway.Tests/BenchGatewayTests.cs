using System;
using System.IO;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Xunit;
using Xunit.Abstractions;

namespace TinyMlops.Gateway.Tests;

public class BenchGatewayTests(ITestOutputHelper output)
{
    /// <summary>
    /// A short run of <c>tinymlops-bench-gateway</c> in its own process, so the benchmark cannot rot: every event
    /// it sends must be acknowledged and answered. Its timing figures are for the bench to print, not for a test.
    /// </summary>
    [Fact]
    public async Task A_short_gateway_benchmark_accounts_for_every_event_it_sends()
    {
        string dir = Harness.Temp("bench");
        try
        {
            string model = Path.Combine(dir, "verifier.onnx");
            // The bench's nodes are esp32-wroom-32s (its default board): the verifier must take what they send.
            var board = TinyMlops.Boards.BoardProfile.Load("esp32-wroom-32");
            File.WriteAllBytes(model, Harness.Verifier(1, 3 * (Firmware.Core.Features.FeatureExtractor.StatsPerAxis + board.Sampling!.Bands)));
            (int _, string stdout, string stderr) = await Harness.Dotnet(TimeSpan.FromMinutes(3),
                Path.Combine(AppContext.BaseDirectory, "tinymlops-bench-gateway.dll"), "--minutes", "0.25", "--nodes", "10", "--rate", "50", "--report", "10", "--rounds", "1", "--model", model, "--out", dir);
            output.WriteLine(stdout);
            Match m = Regex.Match(stdout, @"events sent (\d+), acknowledged (\d+), given up unacknowledged (\d+), verdicts received (\d+), unanswered (\d+)");
            Assert.True(m.Success, $"no accounting line:\n{stdout}\n{stderr}");
            int sent = int.Parse(m.Groups[1].Value), acknowledged = int.Parse(m.Groups[2].Value), givenUp = int.Parse(m.Groups[3].Value);
            Assert.InRange(sent, 600, 800); // 50 ev/s for 15 s
            // Every event answered; each acknowledged, unless a stall made its node give up waiting for the acknowledgement.
            Assert.Equal((sent, sent, 0), (acknowledged + givenUp, int.Parse(m.Groups[4].Value), int.Parse(m.Groups[5].Value)));
            Assert.InRange(givenUp, 0, sent / 10);
            Assert.Contains("gateway/bare", stdout);
            Assert.True(File.Exists(Path.Combine(dir, "latency.png")) && File.Exists(Path.Combine(dir, "memory.png")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
