using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using TinyMlops.Cli;
using Xunit;

namespace TinyMlops.Registry.Tests;

/// <summary>
/// <c>tinymlops release</c>, <c>models</c>, <c>models promote</c>, <c>rollout</c> and <c>gateways assign</c> as an
/// operator runs them, on the registry and through a trainer service.
/// </summary>
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

    [Fact]
    public async Task The_same_commands_work_through_a_trainer_service_which_signs_with_its_own_keys()
    {
        string registry = trained.Temp("cli-trainer-registry"), store = trained.Temp("cli-trainer-store"), keys = Path.Combine(trained.Root, "keys");
        string tokens = Path.Combine(store, "operators.tokens"), mine = Path.Combine(store, "my.token");
        string token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        Contracts.SecretFile.WriteAllText(tokens, "# operators\n" + token + "\n");
        Contracts.SecretFile.WriteAllText(mine, token);
        string gatewayToken = Ingestion.GatewayCredentials.Issue(Path.Combine(store, "gateways.json"), "gw-1");
        int port;
        using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        }

        await using Microsoft.AspNetCore.Builder.WebApplication service = TrainerService.TrainerApp.Build([], c => Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(c, new System.Collections.Generic.Dictionary<string, string?>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["Trainer:Registry"] = registry,
            ["Trainer:KeysDirectory"] = keys,
            ["Trainer:EvaluationData"] = TrainedModel.Data,
            ["Trainer:OperatorTokenFile"] = tokens,
            ["Ingestion:StoreDirectory"] = store,
            ["Logging:LogLevel:Default"] = "Warning",
        }));
        await service.StartAsync();
        string url = $"http://127.0.0.1:{port}/";
        string[] As(params string[] args) => [.. args, "--trainer", url, "--token-file", mine];

        // Who may: an operator token, not a gateway's credential, not a file others can read; and one way to the registry.
        string stranger = Path.Combine(store, "stranger.token");
        Contracts.SecretFile.WriteAllText(stranger, "gw-1." + gatewayToken);
        (int exit, string output, string errors) = Run("models", "--trainer", url, "--token-file", stranger);
        Assert.Equal(1, exit);
        Assert.Contains("answered 401", errors);
        string exposed = Path.Combine(store, "exposed.token");
        File.WriteAllText(exposed, token);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(exposed, (UnixFileMode)0b110_100_100);
            Assert.Contains("can be read by others", Run("models", "--trainer", url, "--token-file", exposed).Errors);
        }
        Assert.Equal(2, Run(As("models", "--registry", registry)).Exit);

        // A release uploads the folder; the service evaluates and signs it with its keys; the registry has it.
        (exit, output, errors) = Run(As("release", "--model", trained.Model));
        Assert.True(exit == 0, errors);
        Assert.Contains("registered esp32-c3-1 (parent none", output);
        Assert.Contains($"signed release 1 of board class 3 with {trained.Keys.Current().Certificate.KeyId}", output);
        Assert.Equal(2, Run(As("release", "--model", trained.Model, "--keys", keys)).Exit); // the service's keys, not the caller's

        Assert.Equal(0, Run(As("models", "promote", "esp32-c3-1", "--reason", "first on line 4")).Exit);
        Assert.Contains("no version 'esp32-c3-9'", Run(As("models", "promote", "esp32-c3-9", "--reason", "x")).Errors);

        // Worse than the champion: the gate's figures come back and nothing is released; forced, it goes out.
        string worse = trained.FlagsEverything();
        (exit, output, errors) = Run(As("release", "--model", worse));
        Assert.Equal(1, exit);
        Assert.Contains("WORSE", output);
        Assert.Contains("answered 409", errors);
        Assert.Equal(0, Run(As("release", "--model", worse, "--force", "commissioning: alarm on every window")).Exit);

        (exit, output, _) = Run(As("models"));
        Assert.Equal(0, exit);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("esp32-c3-1 ", StringComparison.Ordinal) && l.Contains("champion"));
        Assert.Contains(output.Split('\n'), l => l.StartsWith("esp32-c3-2 ", StringComparison.Ordinal) && l.Contains("2!") && l.Contains("canary"));
        Assert.Contains("champion -> esp32-c3-1: first on line 4", output);

        (exit, output, errors) = Run(As("rollout", "start", "--board-class", "3", "--groups", "1,50%"));
        Assert.True(exit == 0, errors);
        Assert.Contains("rollout 1: release 2", output);
        Assert.Contains("answered 409", Run(As("rollout", "start", "--board-class", "3")).Errors); // one open rollout at a time
        Assert.Equal(0, Run(As("rollout", "pause", "--reason", "line 4 stopped")).Exit);
        Assert.Contains("PAUSED at group 1 of 3 (line 4 stopped)", Run(As("rollout", "status")).Output);
        Assert.Equal(0, Run(As("rollout", "abort", "--reason", "wrong model")).Exit);
        Assert.Equal(1, Run(As("rollout", "resume", "--reason", "oops")).Exit);
        await service.StopAsync();

        using ModelRegistry r = ModelRegistry.Open(registry);
        Assert.Equal(["esp32-c3-1", "esp32-c3-2"], r.Models(3).Select(m => m.Version));
        Assert.Equal("aborted", r.Rollouts(3).Single().State);
        Assert.Contains("cannot reach the trainer", Run(As("models")).Errors);
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
