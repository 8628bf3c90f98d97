using System;
using System.IO;
using System.Linq;
using TinyMlops.Cli;
using Xunit;

namespace TinyMlops.Registry.Tests;

/// <summary><c>tinymlops release</c>, <c>models</c>, <c>models promote</c> and <c>gateways assign</c> as an operator runs them.</summary>
[Collection(TrainedModel.Collection)]
public class CliReleaseTests(TrainedModel trained)
{
    [Fact]
    public void Release_models_promote_and_assign_from_the_command_line()
    {
        string registry = trained.Temp("cli-registry"), keys = Path.Combine(trained.Root, "keys");
        (int exit, string output, string errors) = Run("release", "--model", trained.Model, "--registry", registry, "--keys", keys, "--eval-data", TrainedModel.Data);
        Assert.True(exit == 0, errors);
        Assert.Contains("registered esp32-c3-1 (parent none", output);
        Assert.Contains("signed release 1 of board class 3", output);
        Assert.Contains("[release] evaluating", errors); // progress on standard error

        Assert.Equal(2, Run("models", "promote", "esp32-c3-1", "--registry", registry).Exit); // a promotion needs its reason
        Assert.Equal(1, Run("models", "promote", "esp32-c3-9", "--registry", registry, "--reason", "x").Exit);
        Assert.Equal(0, Run("models", "promote", "esp32-c3-1", "--registry", registry, "--reason", "a week on line 4 without a missed fault").Exit);

        string worse = trained.FlagsEverything();
        (exit, output, errors) = Run("release", "--model", worse, "--registry", registry, "--keys", keys);
        Assert.Equal(1, exit);
        Assert.Contains("WORSE", output);
        Assert.Contains("--force REASON", errors);
        Assert.Equal(2, Run("release", "--model", worse, "--registry", registry, "--keys", keys, "--force", " ").Exit);
        Assert.Equal(0, Run("release", "--model", worse, "--registry", registry, "--keys", keys, "--force", "commissioning: alarm on every window").Exit);

        (exit, output, _) = Run("models", "--registry", registry);
        Assert.Equal(0, exit);
        string[] lines = output.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("esp32-c3-1 ", StringComparison.Ordinal) && l.Contains("champion"));
        Assert.Contains(lines, l => l.StartsWith("esp32-c3-2 ", StringComparison.Ordinal) && l.Contains("esp32-c3-1") && l.Contains("2!") && l.Contains("canary"));
        Assert.Contains("forced past the gate: commissioning: alarm on every window", output);
        Assert.Contains("champion -> esp32-c3-1: a week on line 4 without a missed fault", output);

        Assert.Equal(2, Run("rollout", "start", "--registry", registry).Exit); // which board class?
        Assert.Equal(2, Run("rollout", "start", "--board-class", "3", "--groups", "1,lots", "--registry", registry).Exit);
        (exit, output, errors) = Run("rollout", "start", "--board-class", "3", "--groups", "1,50%", "--registry", registry);
        Assert.True(exit == 0, errors);
        Assert.Contains("rollout 1: release 2", output);
        Assert.Equal(1, Run("rollout", "start", "--board-class", "3", "--registry", registry).Exit); // one open rollout at a time
        Assert.Equal(0, Run("rollout", "pause", "--reason", "line 4 stopped for maintenance", "--registry", registry).Exit);
        (_, output, _) = Run("rollout", "status", "--registry", registry);
        Assert.Contains("PAUSED at group 1 of 3 (line 4 stopped for maintenance)", output);
        Assert.Contains("group 3 (100%", output);
        Assert.Equal(0, Run("rollout", "abort", "--reason", "wrong model", "--registry", registry).Exit);
        Assert.Equal(1, Run("rollout", "resume", "--reason", "oops", "--registry", registry).Exit); // an aborted rollout stays aborted

        Assert.Equal(0, Run("gateways", "assign", "gw-1", "--board-classes", "3,1", "--registry", registry).Exit);
        Assert.Equal(2, Run("gateways", "assign", "gw-1", "--board-classes", "3,x", "--registry", registry).Exit);
        Assert.Equal(2, Run("gateways", "assign", "bad/id", "--board-classes", "3", "--registry", registry).Exit);
        using ModelRegistry r = ModelRegistry.Open(registry);
        Assert.Equal([1, 3], r.BoardClassesOf("gw-1").ToArray());
    }

    private static (int Exit, string Output, string Errors) Run(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        TextWriter oldOut = Console.Out, oldError = Console.Error;
        Console.SetOut(output);
        Console.SetError(errors);
        try
        {
            return (Program.Main(args), output.ToString(), errors.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
    }
}
