using System;
using System.IO;
using System.Threading.Tasks;
using Xunit;
using Xunit.Abstractions;

namespace TinyMlops.Gateway.Tests;

public class BenchRolloutTests(ITestOutputHelper output)
{
    /// <summary>
    /// A short run of <c>tinymlops-bench-rollout</c> in its own process, so the benchmark cannot rot: a model trained
    /// here, released, rolled out in stages to 30 simulated nodes with the gateway killed and the trainer restarted
    /// mid-rollout, every reset node finishing, every flash-faulty node rolling back, and the 1 % rollout aborting in
    /// its first group. Its timing figures are the bench's to print.
    /// </summary>
    [Fact]
    public async Task A_short_rollout_benchmark_survives_restarts_recovers_resets_and_aborts_where_it_should()
    {
        (int exit, string stdout, string stderr) = await Harness.Dotnet(TimeSpan.FromMinutes(6),
            Path.Combine(AppContext.BaseDirectory, "tinymlops-bench-rollout.dll"), "--nodes", "30", "--reset", "0.2", "--fail", "0.07", "--success", "0.85", "--abort", "0.2", "--restart", "true");
        output.WriteLine(stdout);
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
        Assert.Contains("state                       completed", stdout);
        Assert.Contains("gateway killed and trainer restarted once a third had confirmed", stdout);
        Assert.Contains("all confirmed release 2: yes", stdout);
        Assert.Contains("all failed and kept release 1 running: yes", stdout);
        Assert.Contains("target <= 1.1x met", stdout); // byte counts, not timings: the same on any machine
        Assert.Contains("nodes of later groups offered: 0   met", stdout);
    }
}
