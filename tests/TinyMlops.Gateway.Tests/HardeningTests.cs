using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Storage;
using TinyMlops.Ingestion;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>What an attacker, a reboot, a corrupt file or a full disk does to the gateway (issue 9, points 1-8, 10).</summary>
public class HardeningTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static byte[] Reseal(byte[] frame, Action<byte[]> edit)
    {
        edit(frame);
        LittleEndian.WriteUInt32(frame, frame.Length - 4, Crc32.Compute(frame, 0, frame.Length - 4));
        return frame;
    }

    [Fact]
    public async Task Non_finite_fields_are_refused_at_decode_and_a_poison_row_is_quarantined_while_the_rest_flows()
    {
        int trainerPort = Harness.FreePort();
        await using RunningGateway g = await RunningGateway.Start($"http://127.0.0.1:{trainerPort}/");
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");

        // A valid CRC around an infinite score, or a sample scale that overflows to infinity once scaled to g.
        byte[] infiniteScore = Reseal(Harness.EventFrame(1, 0.5f), b => LittleEndian.WriteSingle(b, WireCodec.HeaderSize + 16, float.PositiveInfinity));
        byte[] hugeScale = Reseal(Harness.EventFrame(2, 0.5f), b => LittleEndian.WriteSingle(b, WireCodec.HeaderSize + 28, float.MaxValue / 2));
        foreach (byte[] frame in new[] { infiniteScore, hugeScale })
        {
            Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, (await Harness.Publish(node, "tinymlops/node-1/up/event", frame)).ReasonCode);
        }

        Assert.Equal(2, await g.Metric("tinymlops_gateway_rejected_total{reason=\"malformed_bad_field\"}"));

        // A row already in the store (written by an older gateway, or damaged on the card) that cannot be sent up:
        // it is verified, then the uplink meets it. It must be quarantined, and the rows around it must still go up.
        var store = g.Get<GatewayStore>();
        Assert.Equal(AddResult.Added, await store.AddEventAsync(new StoredEvent("node-1-1-100", "node-1", 1, 100, 0, 1, hugeScale)));
        store.SaveVerdicts([("node-1-1-100", new StoredVerdict(1, "imbalance", true, 0.9f, 1, 1))]);
        for (uint i = 10; i < 15; i++)
        {
            Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(i, 0.7f))).IsSuccess);
        }

        string filed = Harness.Temp("poison-ingestion");
        WebApplication trainer = await Harness.StartIngestion(trainerPort, filed, credentialFile: g.CredentialFile);
        try
        {
            await Harness.Eventually(() => Task.FromResult(trainer.Services.GetRequiredService<IngestionStore>().Count), n => n == 5, "the five good events filed", 30);
            Assert.Equal(1, await g.Metric("tinymlops_gateway_quarantined_total{reason=\"unsendable_record\"}"));
            Assert.Equal(1, await g.Metric("tinymlops_gateway_queue_quarantined"));
            Assert.Equal("unsendable_record", Assert.Single(store.Quarantined(10)).Reason);
            Assert.Equal(0, await g.Metric("tinymlops_gateway_worker_faults_total{worker=\"uplink\"}"));
            using HttpResponseMessage health = await g.Http.GetAsync("health");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode); // still running
        }
        finally
        {
            await trainer.StopAsync();
            await trainer.DisposeAsync();
            Directory.Delete(filed, recursive: true);
        }
    }

    private sealed class FailingService : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Delay(200, stoppingToken);
            throw new InvalidOperationException("boom");
        }
    }

    [Fact]
    public async Task A_host_stopped_by_a_failing_service_exits_non_zero()
    {
        string dir = Harness.Temp("exit");
        RunningGateway.Prepare(dir);
        Dictionary<string, string?> settings = RunningGateway.Settings(dir, Harness.FreePort(), Harness.FreePort());
        WebApplication app = GatewayApp.Build(Array.Empty<string>(), c => Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(c, settings),
            new Alarms.SimulatedGpioDriver(), s => s.AddHostedService<FailingService>());
        Task<int> run = GatewayApp.RunAsync(app);
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))));
        Assert.Equal(1, await run);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task After_a_reboot_with_an_unset_clock_new_events_are_stored_and_verified_and_only_identical_bytes_count_as_redelivery()
    {
        await using RunningGateway g = await RunningGateway.Start();
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        BlockingCollection<VerdictMessage> verdicts = await Harness.Verdicts(node, "node-1");

        // Boot 1, clock not set yet; then the node reboots: boot 2, sequence starts again, clock still unset.
        for (uint boot = 1; boot <= 2; boot++)
        {
            for (uint seq = 1; seq <= 3; seq++)
            {
                Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(seq, 0.6f + (0.1f * boot), timestampMs: 0, boot: boot))).IsSuccess);
            }
        }

        // A node that lost its boot count (re-flashed) repeats boot 1, sequence 1 with another window.
        Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(1, -0.9f, timestampMs: 0, boot: 1))).IsSuccess);

        // A real redelivery: the same bytes again.
        Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(2, 0.8f, timestampMs: 0, boot: 2))).IsSuccess);

        for (int i = 0; i < 7; i++)
        {
            Assert.True(verdicts.TryTake(out _, TimeSpan.FromSeconds(10)), $"verdict {i + 1} of 7");
        }

        Assert.Equal((7L, 0L), (g.Get<GatewayStore>().Counts().Events, g.Get<GatewayStore>().Counts().ToVerify));
        Assert.Equal(1, await g.Metric("tinymlops_gateway_events_duplicate_total"));
        Assert.Equal(1, await g.Metric("tinymlops_gateway_event_id_collisions_total"));
        Assert.Equal(8, await g.Metric("tinymlops_gateway_clock_implausible_total"));
        Assert.True(g.Gpio.Level(Alarms.AlarmPins.From(TinyMlops.Boards.BoardProfile.Load("rpi4").AlarmPins).Red) == System.Device.Gpio.PinValue.High);
    }

    [Fact]
    public async Task A_flipped_byte_in_a_stored_frame_is_quarantined_and_the_other_events_are_verified()
    {
        string dir = Harness.Temp("flip");
        RunningGateway.Prepare(dir);
        await using (var store = new GatewayStore(Path.Combine(dir, "gateway.db")))
        {
            for (uint i = 1; i <= 5; i++)
            {
                await store.AddEventAsync(new StoredEvent(StoredEvent.MakeId("node-1", 1, i), "node-1", 1, i, 0, i, Harness.EventFrame(i, 0.5f)));
            }
        }

        using (var db = new SqliteConnection($"Data Source={Path.Combine(dir, "gateway.db")};Pooling=False"))
        {
            db.Open();
            using SqliteCommand c = db.CreateCommand();
            c.CommandText = "SELECT frame FROM events WHERE id = 'node-1-1-3'";
            var frame = (byte[])c.ExecuteScalar()!;
            frame[WireCodec.HeaderSize + 40] ^= 0x10; // one bit, deep in the samples
            c.CommandText = "UPDATE events SET frame = $f WHERE id = 'node-1-1-3'";
            c.Parameters.AddWithValue("$f", frame);
            c.ExecuteNonQuery();
        }

        await using RunningGateway g = await RunningGateway.Start(dataDirectory: dir);
        await Harness.Eventually(async () => await g.Metric("tinymlops_gateway_events_verified_total"), n => n == 4, "the four intact events verified");
        Assert.Equal(1, await g.Metric("tinymlops_gateway_quarantined_total{reason=\"undecodable_frame\"}"));
        Assert.Equal("node-1-1-3", Assert.Single(g.Get<GatewayStore>().Quarantined(10)).Id);
        Assert.Equal(0L, g.Get<GatewayStore>().Counts().ToVerify);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("header")]
    public async Task A_damaged_store_file_is_set_aside_and_what_is_readable_recovered_at_start(string damage)
    {
        string dir = Harness.Temp("damaged");
        string path = Path.Combine(dir, "gateway.db");
        await using (var store = new GatewayStore(path))
        {
            for (uint i = 1; i <= 200; i++)
            {
                await store.AddEventAsync(new StoredEvent(StoredEvent.MakeId("node-1", 1, i), "node-1", 1, i, 0, i, Harness.EventFrame(i, 0.5f)));
            }
        }

        using (var db = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            db.Open();
            using SqliteCommand c = db.CreateCommand();
            c.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
            c.ExecuteNonQuery();
        }

        SqliteConnection.ClearAllPools();
        byte[] bytes = File.ReadAllBytes(path);
        if (damage == "truncated")
        {
            File.WriteAllBytes(path, bytes[..(bytes.Length * 6 / 10)]);
        }
        else
        {
            new Random(3).NextBytes(bytes.AsSpan(0, 100));
            File.WriteAllBytes(path, bytes);
        }

        await using (var store = new GatewayStore(path))
        {
            StoreRecovery r = Assert.IsType<StoreRecovery>(store.Recovery);
            Assert.True(File.Exists(r.DamagedPath), r.ToString());
            if (damage == "truncated")
            {
                Assert.True(r.EventsRecovered is > 0 and < 200, r.ToString());
                Assert.Equal(r.EventsRecovered, store.Counts().Events);
            }
            else
            {
                Assert.Equal(0, r.EventsRecovered); // not even the header is readable: a new store, the old one kept aside
            }

            // The new store works.
            Assert.Equal(AddResult.Added, await store.AddEventAsync(new StoredEvent("node-1-2-1", "node-1", 2, 1, 0, 1, Harness.EventFrame(1, 0.5f))));
        }

        // And the gateway starts on it, saying so in /health and /metrics, instead of failing at every start.
        File.Copy(Directory.GetFiles(dir, "gateway.db.damaged-*").First(f => !f.EndsWith("-wal", StringComparison.Ordinal) && !f.EndsWith("-shm", StringComparison.Ordinal)), path, overwrite: true);
        File.Delete(path + "-wal");
        RunningGateway.Prepare(dir);
        await using RunningGateway g = await RunningGateway.Start(dataDirectory: dir);
        Assert.Equal(1, await g.Metric("tinymlops_gateway_store_recovered"));
        using HttpResponseMessage health = await g.Http.GetAsync("health");
        Assert.Contains("damaged", await health.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task When_the_trainer_answer_cannot_be_recorded_for_space_the_batch_is_not_posted_again()
    {
        int trainerPort = Harness.FreePort();
        await using RunningGateway g = await RunningGateway.Start($"http://127.0.0.1:{trainerPort}/");
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        for (uint i = 0; i < 20; i++)
        {
            Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(i, 0.5f))).IsSuccess);
        }

        var store = g.Get<GatewayStore>();
        await Harness.Eventually(() => Task.FromResult(store.Counts().ToForward), n => n == 20, "20 verified events waiting");
        store.SimulateFullDisk = true;
        int posts = 0;
        string filed = Harness.Temp("full-ingestion");
        WebApplication trainer = await Harness.StartIngestion(trainerPort, filed, credentialFile: g.CredentialFile, configure: app => app.Use(async (context, next) =>
        {
            if (context.Request.Path == "/api/ingest")
            {
                Interlocked.Increment(ref posts);
            }

            await next(context);
        }));
        try
        {
            await Harness.Eventually(() => g.Metric("tinymlops_gateway_uplink_mark_failures_total"), n => n >= 3, "marking retried", 30);
            Assert.Equal(1, Volatile.Read(ref posts)); // the filed batch is not sent again while its answer waits
            Assert.True(await g.Metric("tinymlops_gateway_uplink_backoff_seconds") > 0);

            store.SimulateFullDisk = false;
            await Harness.Eventually(() => Task.FromResult(store.Counts().ToForward), n => n == 0, "marked once there is space", 30);
            Assert.Equal(20L, trainer.Services.GetRequiredService<IngestionStore>().Count);
            Assert.Equal(0L, trainer.Services.GetRequiredService<IngestionStore>().DuplicatesSinceStart);
        }
        finally
        {
            await trainer.StopAsync();
            await trainer.DisposeAsync();
            Directory.Delete(filed, recursive: true);
        }
    }

    private static async Task<IMqttClient?> TryConnect(int port, string user, string password, IPAddress from, MqttClientConnectResultCode? expect = null)
    {
        IMqttClient c = new MqttClientFactory().CreateMqttClient();
        MqttClientOptions o = new MqttClientOptionsBuilder()
            .WithEndPoint(new IPEndPoint(IPAddress.Loopback, port))
            .WithTcpServer(t => t.LocalEndpoint = new IPEndPoint(from, 0))
            .WithClientId(user).WithCredentials(user, password).WithTimeout(TimeSpan.FromSeconds(10)).Build();
        string outcome;
        try
        {
            MqttClientConnectResult r = await c.ConnectAsync(o);
            if (r.ResultCode == MqttClientConnectResultCode.Success)
            {
                return c;
            }

            outcome = r.ResultCode.ToString();
        }
        catch (MQTTnet.Adapter.MqttConnectingFailedException e)
        {
            outcome = e.Message; // names the CONNACK's result code
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException e)
        {
            outcome = "closed before any CONNACK: " + e.Message;
        }

        if (expect != null)
        {
            Assert.Contains(expect.Value.ToString(), outcome, StringComparison.Ordinal);
        }

        c.Dispose();
        return null;
    }

    [Fact]
    public async Task Failed_logins_are_held_off_per_address_and_id_without_locking_out_the_node_at_home()
    {
        await using RunningGateway g = await RunningGateway.Start();
        IPAddress attacker = IPAddress.Parse("127.0.0.2"), home = IPAddress.Loopback;
        using (IMqttClient? first = await TryConnect(g.MqttPort, "node-1", Harness.Passwords["node-1"], home))
        {
            Assert.NotNull(first); // node-1 lives at 127.0.0.1
        }

        for (int i = 0; i < 30; i++)
        {
            Assert.Null(await TryConnect(g.MqttPort, "node-1", "guess-" + i, attacker));
        }

        double checkedHashes = await g.Metric("tinymlops_gateway_rejected_total{reason=\"bad_credentials\"}");
        double throttled = await g.Metric("tinymlops_gateway_rejected_total{reason=\"login_throttled\"}");
        Assert.InRange(checkedHashes, 3, 8); // a few free failures, then no PBKDF2 work at all for this address
        Assert.Equal(30 - checkedHashes, throttled);

        // Even the right password is held off from the attacker's address; the node at home still gets in.
        Assert.Null(await TryConnect(g.MqttPort, "node-1", Harness.Passwords["node-1"], attacker, MqttClientConnectResultCode.ServerBusy));
        using IMqttClient? node = await TryConnect(g.MqttPort, "node-1", Harness.Passwords["node-1"], home);
        Assert.NotNull(node);
        using IMqttClient? other = await TryConnect(g.MqttPort, "node-2", Harness.Passwords["node-2"], IPAddress.Parse("127.0.0.3"));
        Assert.NotNull(other);
    }

    [Fact]
    public void An_unknown_id_costs_the_same_hashing_as_a_known_one()
    {
        string dir = Harness.Temp("timing");
        string file = Path.Combine(dir, "nodes.json");
        NodeRegistry.Write(file, Harness.Passwords, iterations: 200_000);
        var registry = new NodeRegistry(file);
        long Work(string id, string? password)
        {
            long before = registry.IterationsSpent;
            Assert.False(registry.Verify(id, password));
            return registry.IterationsSpent - before;
        }

        // Counted, not timed: the decoy hash once cost 2 ms against a real hash's 112 ms (a 56x tell).
        long known = Work("node-1", "wrong");
        Assert.Equal(200_000, known);
        Assert.Equal(known, Work("nobody-at-all", "wrong"));
        Assert.Equal(known, Work("node-1", null));
        Directory.Delete(dir, recursive: true);
    }

    private sealed class Capture : ILoggerProvider
    {
        public readonly ConcurrentQueue<string> Lines = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(Capture owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Lines.Enqueue(formatter(state, exception));
        }
    }

    [Fact]
    public async Task Refused_logins_with_huge_names_log_little_and_the_gateway_itself_cannot_be_impersonated()
    {
        var capture = new Capture();
        await using RunningGateway g = await RunningGateway.Start(services: s => s.AddSingleton<ILoggerProvider>(capture));
        for (int i = 0; i < 20; i++)
        {
            string name = new string((char)('a' + i), 600) + "\n2026-12-02 forged line";
            Assert.Null(await TryConnect(g.MqttPort, name, "x", IPAddress.Parse($"127.0.1.{i + 1}")));
            Assert.Null(await TryConnect(g.MqttPort, new string('z', 65_000), "x", IPAddress.Parse($"127.0.2.{i + 1}")));
        }

        Assert.NotEmpty(capture.Lines);
        Assert.All(capture.Lines, l => Assert.True(l.Length < 600, $"{l.Length}-character log line"));
        Assert.DoesNotContain(capture.Lines, l => l.Contains('\n'));
        Assert.True(await g.Metric("tinymlops_gateway_rejected_total{reason=\"oversized_connect\"}") >= 20);

        // The gateway's own client id (and any 'gateway…'/'tinymlops…' id) is refused as a node everywhere.
        Assert.Throws<ArgumentException>(() => NodeRegistry.AddOrReplace(Path.Combine(g.Directory, "nodes.json"), "tinymlops-gateway", "pw", 1000));
        File.WriteAllText(Path.Combine(g.Directory, "raw.json"), """{"nodes":[{"id":"tinymlops-gateway","password":"pbkdf2-sha256$1000$AAAA$AAAA"}]}""");
        Assert.Contains("reserved", Assert.Throws<InvalidDataException>(() => new NodeRegistry(Path.Combine(g.Directory, "raw.json"))).Message);
        Assert.False(Broker.TopicAcl.NodeMayConnect("tinymlops-gateway", "tinymlops-gateway"));
    }

    [Fact]
    public async Task An_unauthenticated_flood_of_huge_packet_claims_leaves_memory_bounded_while_a_node_is_served()
    {
        string dir = Harness.Temp("flood");
        RunningGateway.Prepare(dir);
        int mqtt = Harness.FreePort(), http = Harness.FreePort();
        using var gateway = TestBed.GatewayProcess.Start(RunningGateway.Settings(dir, mqtt, http), http);
        try
        {
            await gateway.WaitHealthy();
            long before = ResidentBytes(gateway.Id);

            // Eight connections claim a 256 MiB CONNECT each and send 64 KiB of it; two hundred more just sit there.
            var sockets = new List<Socket>();
            byte[] claim = { 0x10, 0xFF, 0xFF, 0xFF, 0x7F };
            byte[] body = new byte[64 * 1024];
            for (int i = 0; i < 8; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Bind(new IPEndPoint(IPAddress.Parse($"127.0.3.{i + 1}"), 0));
                await s.ConnectAsync(IPAddress.Loopback, mqtt);
                sockets.Add(s);
                try
                {
                    await s.SendAsync(claim);
                    await s.SendAsync(body);
                }
                catch (SocketException)
                {
                    // closed by the gateway mid-send: that is the point
                }
            }

            for (int i = 0; i < 200; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Bind(new IPEndPoint(IPAddress.Parse($"127.0.4.{(i % 4) + 1}"), 0));
                await s.ConnectAsync(IPAddress.Loopback, mqtt);
                sockets.Add(s);
            }

            // A legitimate node is still served, verdict and all.
            using IMqttClient node = await Harness.ConnectNode(mqtt, "node-1");
            BlockingCollection<VerdictMessage> verdicts = await Harness.Verdicts(node, "node-1");
            Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(1, 0.8f))).IsSuccess);
            Assert.True(verdicts.TryTake(out _, TimeSpan.FromSeconds(10)));

            long after = ResidentBytes(gateway.Id);
            output.WriteLine($"gateway resident memory {before >> 20} MiB before the flood, {after >> 20} MiB after ({(after - before) / 1048576.0:F1} MiB growth, bound 64 MiB)");
            Assert.True(after - before < 64L << 20, $"resident memory grew {(after - before) >> 20} MiB (bound 64 MiB)");
            string metrics = await gateway.Http.GetStringAsync("metrics");
            Assert.Contains("tinymlops_gateway_rejected_total{reason=\"oversized_connect\"} 8", metrics);
            Assert.Contains("reason=\"too_many_pending_from_address\"", metrics);
            foreach (Socket s in sockets)
            {
                s.Dispose();
            }
        }
        finally
        {
            gateway.Kill();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static long ResidentBytes(int pid)
    {
        string line = File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    [Fact]
    public async Task Metrics_and_health_can_be_kept_to_a_management_port_and_event_timestamps_at_the_extremes_are_refused()
    {
        int management = Harness.FreePort();
        await using RunningGateway g = await RunningGateway.Start(tweak: s =>
        {
            s["Urls"] = s["Urls"] + $";http://127.0.0.1:{management}";
            s["Gateway:Http:ManagementPort"] = management.ToString(System.Globalization.CultureInfo.InvariantCulture);
        });
        using (HttpResponseMessage open = await g.Http.GetAsync("metrics"))
        {
            Assert.Equal(HttpStatusCode.NotFound, open.StatusCode);
        }

        using var mgmt = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{management}/") };
        using (HttpResponseMessage ok = await mgmt.GetAsync("metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        foreach (long ts in new[] { long.MaxValue, long.MinValue, -1L })
        {
            byte[] frame = Reseal(Harness.EventFrame(1, 0.5f), b => LittleEndian.WriteInt64(b, 12, ts));
            Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, (await Harness.Publish(node, "tinymlops/node-1/up/event", frame)).ReasonCode);
        }
    }

    [Fact]
    public async Task The_node_list_needs_an_operator_token_and_shows_each_nodes_last_telemetry()
    {
        await using RunningGateway g = await RunningGateway.Start($"http://127.0.0.1:{Harness.FreePort()}/");
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        byte[] telemetry = TinyMlops.Firmware.Core.Wire.WireCodec.Encode(new TinyMlops.Firmware.Core.Wire.TelemetryMessage
        {
            ModelId = 7, ModelVersion = 3, UpdateState = TinyMlops.Firmware.Core.Updates.UpdateState.Confirmed, Windows = 12, Events = 2,
        });
        Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/telemetry", telemetry)).IsSuccess);
        using var anonymous = new HttpClient { BaseAddress = g.Http.BaseAddress };
        using (HttpResponseMessage r = await anonymous.GetAsync("api/nodes"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }

        GatewayNodeView[] nodes = [];
        await Harness.Eventually(async () => nodes = (await g.Http.GetFromJsonAsync<GatewayNodeView[]>("api/nodes"))!, n => n.Any(x => x.Id == "node-1" && x.ModelVersion != null), "node-1's telemetry listed");
        GatewayNodeView seen = nodes.Single(x => x.Id == "node-1");
        Assert.Equal((true, 7L, 3L, "confirmed", 12L), (seen.Login, seen.ModelId, seen.ModelVersion, seen.UpdateState, seen.Windows));
        Assert.True(seen.LastSeen > DateTimeOffset.UtcNow.AddMinutes(-5));
    }

    [Fact]
    public async Task The_label_API_needs_an_operator_token_and_a_label_the_trainer_refuses_stays_queued_with_its_reason()
    {
        int trainerPort = Harness.FreePort();
        await using RunningGateway g = await RunningGateway.Start($"http://127.0.0.1:{trainerPort}/");
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        for (uint i = 1; i <= 3; i++)
        {
            Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(i, 0.5f))).IsSuccess);
        }

        var store = g.Get<GatewayStore>();
        await Harness.Eventually(() => Task.FromResult(store.Counts().ToForward), n => n == 3, "3 verified events");
        string id = StoredEvent.MakeId("node-1", 1, 2);
        using var anonymous = new HttpClient { BaseAddress = g.Http.BaseAddress };
        using (HttpResponseMessage r = await anonymous.PostAsJsonAsync("api/labels", new { eventId = id, label = "healthy" }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }

        anonymous.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "not-the-operator-token");
        using (HttpResponseMessage r = await anonymous.PostAsJsonAsync("api/labels", new { eventId = id, label = "healthy" }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }

        foreach (string bad in new[] { "healthy\nlabel=x", "healthy label=x", "", new string('a', 49) })
        {
            using HttpResponseMessage r = await g.Http.PostAsJsonAsync("api/labels", new { eventId = id, label = bad });
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        }

        using (HttpResponseMessage r = await g.Http.PostAsJsonAsync("api/labels", new { eventId = id, label = "misalignment" }))
        {
            Assert.Equal(HttpStatusCode.NoContent, r.StatusCode);
        }

        // The trainer already holds a different window under event 3's id (filed before, from another boot of the
        // truth): it refuses the gateway's. That record must stay queued with the trainer's reason, not be dropped.
        string filed = Harness.Temp("refuse-ingestion");
        Directory.CreateDirectory(filed);
        using (var pre = new IngestionStore(filed))
        {
            UplinkRecord clash = Record("node-1", 1, 3, 0.25f);
            Assert.Equal(1, pre.Ingest(new UplinkBatch { GatewayId = "gw-test", Records = { clash } }).Accepted);
        }

        int posts = 0;
        WebApplication trainer = await Harness.StartIngestion(trainerPort, filed, credentialFile: g.CredentialFile, configure: app => app.Use(async (context, next) =>
        {
            if (context.Request.Path == "/api/ingest")
            {
                Interlocked.Increment(ref posts);
            }

            await next(context);
        }));
        try
        {
            await Harness.Eventually(() => Task.FromResult(store.Counts().ToForward), n => n == 0, "the queue settled", 30);
            Assert.Equal(1L, store.DetailedCounts().Refused);
            Assert.Equal(1, await g.Metric("tinymlops_gateway_queue_refused"));
            await Task.Delay(1500);
            Assert.Equal(1, Volatile.Read(ref posts)); // held, not resent
            var ingestion = trainer.Services.GetRequiredService<IngestionStore>();
            Assert.Equal(3L, ingestion.Count); // the clash plus events 1 and 2 (2 with the operator's label)
            Assert.Contains("label=misalignment", File.ReadAllText(Path.Combine(ingestion.RecordingsDirectory, $"gw-test_{id}.csv")));
        }
        finally
        {
            await trainer.StopAsync();
            await trainer.DisposeAsync();
            Directory.Delete(filed, recursive: true);
        }
    }

    internal static UplinkRecord Record(string node, uint boot, uint sequence, float level, string? label = null) => new()
    {
        Id = RecordNames.MakeRecordId(node, boot, sequence),
        Node = node,
        Boot = boot,
        Sequence = sequence,
        SampleRateHz = 1000,
        WindowLength = 4,
        Features = new float[Harness.Features],
        Samples = Enumerable.Repeat(level, 12).ToArray(),
        Verdict = new UplinkVerdict { ClassId = 0, Label = "healthy", Probability = 0.9f, VerifierVersion = 1 },
        Label = label,
    };
}
