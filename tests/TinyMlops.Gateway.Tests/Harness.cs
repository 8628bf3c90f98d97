using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Threading.Tasks;
using System.Threading;
using System;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using MQTTnet;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Alarms;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway;
using TinyMlops.Trainer.Models;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>Test scaffolding: temp folders, free ports, a small real verifier, node frames, a gateway in process.</summary>
internal static class Harness
{
    public const int Features = 6;

    public static readonly Dictionary<string, string> Passwords = new() { ["node-1"] = "secret-1", ["node-2"] = "secret-2" };

    /// <summary>The operator token every test gateway accepts on its label API.</summary>
    public const string OperatorToken = "operator-token-for-tests-0123456789";

    public static string Temp(string what)
    {
        string d = Path.Combine(Path.GetTempPath(), $"tinymlops-{what}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    public static int FreePort() => TestBed.GatewayProcess.FreeLoopbackPort();

    /// <summary>A real (tiny) verifier: features[0] &gt; 0 means imbalance (or, <paramref name="inverted"/>, healthy).</summary>
    public static byte[] Verifier(long version, int features = Features, bool inverted = false) =>
        TrainVerifier(features, inverted).ToOnnx("test", version, new Dictionary<string, string>());

    /// <summary>
    /// The same verifier with its output layer scaled by 1e35: on windows like the training ones its logits stay
    /// finite and its answers are the same, but a window a few hundred times larger overflows them and it answers NaN.
    /// </summary>
    public static byte[] UnstableVerifier(long version)
    {
        MlpClassifier mlp = TrainVerifier(Features, inverted: false);
        foreach (float[] row in mlp.W2)
        {
            for (int i = 0; i < row.Length; i++)
            {
                row[i] *= 1e35f;
            }
        }

        return mlp.ToOnnx("test", version, new Dictionary<string, string>());
    }

    private static MlpClassifier TrainVerifier(int features, bool inverted)
    {
        var rng = new Random(5);
        float[][] x = Enumerable.Range(0, 400).Select(_ => Enumerable.Range(0, features).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray()).ToArray();
        int[] y = x.Select(r => r[0] > 0 != inverted ? 1 : 0).ToArray();
        return MlpClassifier.Train(x, y, new[] { "healthy", "imbalance" }, hidden: 8, epochs: 60, seed: 5);
    }

    public static byte[] EventFrame(uint sequence, float first, int features = Features, long timestampMs = 1_700_000_000_000, uint boot = 1)
    {
        var f = new float[features];
        f[0] = first;
        const int window = 64;
        var samples = new short[3 * window];
        for (int i = 0; i < samples.Length; i++)
        {
            samples[i] = (short)((i * 37) % 2000 - 1000);
        }

        return WireCodec.Encode(new EventMessage
        {
            Boot = boot,
            Sequence = sequence,
            TimestampMs = timestampMs,
            ModelId = 1,
            ModelVersion = 1,
            Score = 99,
            Threshold = 50,
            RealScore = 12.5f,
            SampleRateHz = 1000,
            Features = f,
            WindowLength = window,
            SampleScale = 0.001f,
            Samples = samples,
        });
    }

    public static async Task<IMqttClient> ConnectNode(int port, string node, string? password = null, MqttProtocolVersion version = MqttProtocolVersion.V500)
    {
        IMqttClient c = new MqttClientFactory().CreateMqttClient();
        MqttClientOptions o = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(node)
            .WithCredentials(node, password ?? Passwords[node]).WithProtocolVersion(version).WithTimeout(TimeSpan.FromSeconds(10)).Build();
        MqttClientConnectResult r = await c.ConnectAsync(o);
        if (r.ResultCode != MqttClientConnectResultCode.Success)
        {
            c.Dispose();
            throw new InvalidOperationException($"broker refused {node}: {r.ResultCode}");
        }

        return c;
    }

    /// <summary>Subscribes <paramref name="node"/> to its downlink and collects the verdicts it gets.</summary>
    public static async Task<BlockingCollection<VerdictMessage>> Verdicts(IMqttClient node, string id)
    {
        var verdicts = new BlockingCollection<VerdictMessage>();
        node.ApplicationMessageReceivedAsync += e =>
        {
            byte[] p = System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload);
            verdicts.Add((VerdictMessage)WireCodec.Decode(p, 0, p.Length));
            return Task.CompletedTask;
        };
        MqttClientSubscribeResult s = await node.SubscribeAsync(new Topics(id).DownWildcard, MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, s.Items.Single().ResultCode);
        return verdicts;
    }

    public static Task<MqttClientPublishResult> Publish(IMqttClient c, string topic, byte[] payload) =>
        c.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

    /// <summary>Runs the .NET host (the one running these tests) with <paramref name="args"/> and collects its output.</summary>
    public static async Task<(int ExitCode, string Output, string Errors)> Dotnet(TimeSpan patience, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using System.Diagnostics.Process p = System.Diagnostics.Process.Start(start)!;
        Task<string> output = p.StandardOutput.ReadToEndAsync(), errors = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(patience);
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} took over {patience.TotalMinutes:G} min");
        }

        return (p.ExitCode, await output, await errors);
    }

    /// <summary>
    /// The trainer's ingestion service, in this process, filing under <paramref name="dir"/>; <paramref name="configure"/>
    /// may add middleware. With <paramref name="credentialFile"/> it issues gateway gw-test a credential and writes it there.
    /// </summary>
    public static async Task<WebApplication> StartIngestion(int port, string dir, Action<WebApplication>? configure = null, string? credentialFile = null)
    {
        if (credentialFile != null)
        {
            Contracts.SecretFile.WriteAllText(credentialFile, Ingestion.GatewayCredentials.Issue(Path.Combine(dir, "gateways.json"), "gw-test"));
        }

        WebApplication app = Ingestion.IngestionApp.Build(Array.Empty<string>(), c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["Ingestion:StoreDirectory"] = dir,
            ["Logging:LogLevel:Default"] = "Warning",
        }));
        configure?.Invoke(app);
        await app.StartAsync();
        return app;
    }

    public static async Task<T> Eventually<T>(Func<Task<T>> probe, Func<T, bool> done, string what, double seconds = 20)
    {
        DateTime end = DateTime.UtcNow.AddSeconds(seconds);
        T last = await probe();
        while (!done(last))
        {
            if (DateTime.UtcNow > end)
            {
                throw new TimeoutException($"{what}: still {last} after {seconds} s");
            }

            await Task.Delay(50);
            last = await probe();
        }

        return last;
    }
}

/// <summary>A gateway running in this process on free ports, with the embedded broker and simulated alarms.</summary>
internal sealed class RunningGateway : IAsyncDisposable
{
    private RunningGateway(string dir, WebApplication app, int mqttPort, int httpPort, SimulatedGpioDriver gpio)
    {
        Directory = dir;
        App = app;
        MqttPort = mqttPort;
        HttpPort = httpPort;
        Gpio = gpio;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/") };
        Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Harness.OperatorToken);
    }

    /// <summary>Where the gateway reads its trainer credential (<see cref="Harness.StartIngestion"/> writes it).</summary>
    public string CredentialFile => Path.Combine(Directory, "trainer.credential");

    public string Directory { get; }

    public WebApplication App { get; }

    public int MqttPort { get; }

    public int HttpPort { get; }

    public SimulatedGpioDriver Gpio { get; }

    public HttpClient Http { get; }

    public string ModelFile => Path.Combine(Directory, "verifier.onnx");

    public T Get<T>()
        where T : notnull => App.Services.GetRequiredService<T>();

    public static Dictionary<string, string?> Settings(string dir, int mqttPort, int httpPort, string? trainerUrl = null) => new()
    {
        ["Urls"] = $"http://127.0.0.1:{httpPort}",
        ["Gateway:GatewayId"] = "gw-test",
        ["Gateway:Board"] = "rpi4",
        ["Gateway:DataDirectory"] = dir,
        ["Gateway:NodesFile"] = Path.Combine(dir, "nodes.json"),
        ["Gateway:Mqtt:Port"] = mqttPort.ToString(),
        ["Gateway:Mqtt:MaxPayloadBytes"] = "8192",
        ["Gateway:Verifier:ModelFile"] = Path.Combine(dir, "verifier.onnx"),
        ["Gateway:Verifier:ReloadCheckSeconds"] = "0.2",
        ["Gateway:Uplink:TrainerUrl"] = trainerUrl ?? "",
        ["Gateway:Uplink:CredentialFile"] = Path.Combine(dir, "trainer.credential"),
        ["Gateway:Http:OperatorTokenFile"] = Path.Combine(dir, "operators.tokens"),
        ["Gateway:Uplink:MaxRetrySeconds"] = "0.5",
        ["Gateway:Alarms:Driver"] = "simulated",
        ["Gateway:Alarms:BuzzerSeconds"] = "5",
        ["Gateway:Alarms:HoldSeconds"] = "60",
        ["Logging:LogLevel:Default"] = "Warning",
    };

    public static void Prepare(string dir, long verifierVersion = 1)
    {
        NodeRegistry.Write(Path.Combine(dir, "nodes.json"), Harness.Passwords, iterations: 1000);
        File.WriteAllBytes(Path.Combine(dir, "verifier.onnx"), Harness.Verifier(verifierVersion));
        Contracts.SecretFile.WriteAllText(Path.Combine(dir, "operators.tokens"), Harness.OperatorToken + "\n");
        Contracts.SecretFile.WriteAllText(Path.Combine(dir, "trainer.credential"), "not-issued-yet");
    }

    public static async Task<RunningGateway> Start(string? trainerUrl = null, Action<Dictionary<string, string?>>? tweak = null, string? dataDirectory = null, Action<IServiceCollection>? services = null)
    {
        string dir = dataDirectory ?? Harness.Temp("gateway");
        if (!File.Exists(Path.Combine(dir, "nodes.json")))
        {
            Prepare(dir);
        }

        int mqtt = Harness.FreePort(), http = Harness.FreePort();
        Dictionary<string, string?> settings = Settings(dir, mqtt, http, trainerUrl);
        tweak?.Invoke(settings);
        var gpio = new SimulatedGpioDriver();
        WebApplication app = GatewayApp.Build(Array.Empty<string>(), c => c.AddInMemoryCollection(settings), gpio, services);
        await app.StartAsync();
        var g = new RunningGateway(dir, app, mqtt, http, gpio);
        await Harness.Eventually(() => Task.FromResult(g.Get<Verification.VerifierHost>().Current != null), ok => ok, "verifier loaded");
        return g;
    }

    public async Task<string> Metrics() => await Http.GetStringAsync("metrics");

    public async Task<double> Metric(string line)
    {
        string text = await Metrics();
        string? hit = text.Split('\n').FirstOrDefault(l => l.StartsWith(line + " ", StringComparison.Ordinal));
        return hit == null ? 0 : double.Parse(hit[(line.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
