using System;
using System.Collections.Generic;
using System.Device.Gpio;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Boards;
using TinyMlops.Gateway.Alarms;
using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Intake;
using TinyMlops.Gateway.LocalNode;
using TinyMlops.Gateway.Storage;
using TinyMlops.Gateway.Uplink;
using TinyMlops.Gateway.Verification;

namespace TinyMlops.Gateway;

/// <summary>
/// The gateway service: options from <c>appsettings.json</c>, environment (<c>Gateway__Mqtt__Port</c> …) and the
/// command line; systemd integration (notify, journal logging); the broker (embedded or external), intake,
/// verification, uplink and alarms; HTTP endpoints <c>/metrics</c> (Prometheus), <c>/health</c> and
/// <c>POST /api/labels</c>.
/// </summary>
public static class GatewayApp
{
    /// <summary>Builds the service; <paramref name="configure"/> may add configuration (tests).</summary>
    public static WebApplication Build(string[] args, Action<IConfigurationBuilder>? configure = null, GpioDriver? gpioDriver = null, Action<IServiceCollection>? services = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder.Configuration);
        builder.Host.UseSystemd();
        builder.Services.AddOptions<GatewayOptions>().Bind(builder.Configuration.GetSection(GatewayOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Mqtt);
        builder.Services.AddSingleton(sp => new NodeRegistry(sp.GetRequiredService<IOptions<GatewayOptions>>().Value.NodesFile));
        builder.Services.AddSingleton(sp =>
        {
            GatewayOptions o = sp.GetRequiredService<IOptions<GatewayOptions>>().Value;
            return new GatewayStore(Path.Combine(o.DataDirectory, "gateway.db"), o.StoreMaxPages);
        });
        builder.Services.AddSingleton<GatewayMetrics>();
        builder.Services.AddSingleton<VerifierHost>();
        builder.Services.AddSingleton<EventIntake>();
        builder.Services.AddSingleton(sp => CreateAlarms(sp.GetRequiredService<IOptions<GatewayOptions>>().Value, gpioDriver));
        builder.Services.AddSingleton(new HttpClient { Timeout = TimeSpan.FromSeconds(30) });
        if (builder.Configuration.GetValue<BrokerMode>("Gateway:Mqtt:Mode") == BrokerMode.External)
        {
            builder.Services.AddSingleton<ExternalBrokerLink>();
            builder.Services.AddSingleton<INodeLink>(sp => sp.GetRequiredService<ExternalBrokerLink>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<ExternalBrokerLink>());
        }
        else
        {
            builder.Services.AddSingleton<EmbeddedBroker>();
            builder.Services.AddSingleton<INodeLink>(sp => sp.GetRequiredService<EmbeddedBroker>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<EmbeddedBroker>());
        }

        builder.Services.AddSingleton(sp => new VerificationWorker(
            sp.GetRequiredService<IOptions<GatewayOptions>>(), sp.GetRequiredService<EventIntake>(), sp.GetRequiredService<GatewayStore>(),
            sp.GetRequiredService<VerifierHost>(), sp.GetRequiredService<INodeLink>(), sp.GetRequiredService<GatewayMetrics>(),
            sp.GetRequiredService<ILogger<VerificationWorker>>(), sp.GetRequiredService<AlarmHolder>().Panel));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<VerificationWorker>());
        builder.Services.AddSingleton<UplinkWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<UplinkWorker>());
        builder.Services.AddSingleton(sp => new NodeKeys(sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Releases.NodeKeysFile));
        builder.Services.AddSingleton<Releases.NodeUpdateRelay>();
        builder.Services.AddSingleton<Releases.NodeRelayWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Releases.NodeRelayWorker>());
        builder.Services.AddSingleton<Releases.RolloutWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Releases.RolloutWorker>());
        builder.Services.AddSingleton<Releases.ReleaseWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Releases.ReleaseWorker>());
        builder.Services.AddSingleton<Releases.AppUpdateWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Releases.AppUpdateWorker>());
        builder.Services.AddSingleton<ISensorBuses, HardwareSensorBuses>();
        builder.Services.AddSingleton<LocalNodeService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LocalNodeService>());
        services?.Invoke(builder.Services);

        WebApplication app = builder.Build();
        GatewayOptions options = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        StoreRecovery? recovery = null;
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            recovery = app.Services.GetRequiredService<GatewayStore>().Recovery;
            if (recovery != null)
            {
                app.Logger.LogError("gateway store: {Recovery}", recovery.ToString());
            }
        });

        // /metrics and /health tell an outsider which nodes exist and how busy the line is: on a management port when one is set.
        int managementPort = options.Http.ManagementPort;
        IEndpointConventionBuilder metrics = app.MapGet("/metrics", (GatewayMetrics m, GatewayStore s) =>
            Results.Text(m.ToPrometheus(s.DetailedCounts(), s.IsFull, s.Recovery != null), "text/plain; version=0.0.4"));
        IEndpointConventionBuilder health = app.MapGet("/health", (GatewayMetrics m, GatewayStore s, VerifierHost v, INodeLink link, AlarmHolder alarms) =>
        {
            StoreCounts c = s.DetailedCounts();
            bool ok = GatewayHealth.IsOk(v, link, s);
            var body = new Dictionary<string, object?>
            {
                ["status"] = ok ? "ok" : "degraded",
                ["appVersion"] = Releases.AppUpdateWorker.RunningVersion,
                ["verifierVersion"] = v.Current?.Version,
                ["verifierClasses"] = v.Current?.Classes,
                ["broker"] = link.IsConnected ? "up" : "down",
                ["storageFull"] = s.IsFull,
                ["events"] = c.Events,
                ["toVerify"] = c.ToVerify,
                ["toForward"] = c.ToForward,
                ["refusedByTrainer"] = c.Refused,
                ["quarantined"] = c.Quarantined,
                ["storeRecovery"] = s.Recovery?.ToString(),
                ["workerFaults"] = m.WorkerFaults,
                ["alarm"] = alarms.Panel?.IsRaised == true ? alarms.Panel.LastAlarm : null,
            };
            return Results.Json(body, statusCode: ok ? 200 : 503);
        });
        if (managementPort > 0)
        {
            metrics.AddEndpointFilter(OnlyOnPort(managementPort));
            health.AddEndpointFilter(OnlyOnPort(managementPort));
        }

        var operators = new OperatorTokens(options.Http.OperatorTokenFile);
        IResult? Refused(HttpContext http) =>
            !operators.IsConfigured ? Results.Json(new { error = "the operator API is off: set Gateway:Http:OperatorTokenFile" }, statusCode: 403)
            : !operators.Verify(http.Request.Headers.Authorization) ? Results.Json(new { error = "an operator token is required (Authorization: Bearer …)" }, statusCode: 401)
            : null;

        // Every node the gateway knows (a login, or a message seen) with its last message and last telemetry: what
        // 'tinymlops flash' waits for and 'tinymlops nodes' shows.
        app.MapGet("/api/nodes", (HttpContext http, GatewayStore s, NodeRegistry logins) =>
        {
            if (Refused(http) is { } refused)
            {
                return refused;
            }

            Dictionary<string, (long LastSeen, byte[]? Telemetry)> seen = s.Nodes();
            return Results.Json(logins.Ids.Union(seen.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(id =>
                GatewayNodeView.Of(id, logins.IsKnown(id), seen.TryGetValue(id, out var n) ? n.LastSeen : null, seen.TryGetValue(id, out n) ? n.Telemetry : null)).ToArray());
        });

        app.MapPost("/api/labels", (HttpContext http, LabelRequest? request, GatewayStore s) =>
        {
            if (Refused(http) is { } refused)
            {
                return refused;
            }

            string? label = request?.Label?.Trim();
            if (request == null || string.IsNullOrWhiteSpace(request.EventId) || request.EventId.Length > 200 || !RecordNames.IsValidLabel(label))
            {
                return Results.BadRequest(new { error = $"eventId and a label of 1-{RecordNames.MaxLabelLength} letters, digits, '-', '_' or '.' are required" });
            }

            return s.SetLabel(request.EventId, label!, "operator") ? Results.NoContent() : Results.NotFound(new { error = $"no event {LogText.Safe(request.EventId)}" });
        });
        return app;
    }

    // Answers 404 on any other port, judged by the port the connection came in on (not the Host header, which the caller writes).
    private static Func<EndpointFilterInvocationContext, EndpointFilterDelegate, ValueTask<object?>> OnlyOnPort(int port) =>
        (context, next) => context.HttpContext.Connection.LocalPort == port ? next(context) : ValueTask.FromResult<object?>(Results.NotFound());

    /// <summary>An operator's label for a stored event.</summary>
    /// <param name="EventId">Event id.</param>
    /// <param name="Label">Class name.</param>
    public sealed record LabelRequest(string EventId, string Label);

    /// <summary>The alarm panel, or none (driver "none").</summary>
    /// <param name="Panel">The panel.</param>
    public sealed record AlarmHolder(AlarmPanel? Panel);

    private static AlarmHolder CreateAlarms(GatewayOptions o, GpioDriver? driver)
    {
        if (o.Alarms.Driver == "none")
        {
            return new AlarmHolder(null);
        }

        BoardProfile board = BoardProfile.Load(o.Board);
        GpioController gpio = o.Alarms.Driver == "simulated" || driver != null ? new GpioController(driver ?? new SimulatedGpioDriver()) : new GpioController();
        return new AlarmHolder(new AlarmPanel(gpio, AlarmPins.From(board.AlarmPins), TimeSpan.FromSeconds(o.Alarms.BuzzerSeconds), TimeSpan.FromSeconds(o.Alarms.HoldSeconds)));
    }

    /// <summary>Runs the service until it is stopped.</summary>
    public static async Task<int> Main(string[] args)
    {
        try
        {
            return await RunAsync(Build(args)).ConfigureAwait(false);
        }
        catch (OptionsValidationException e)
        {
            Console.Error.WriteLine("tinymlops-gateway: invalid configuration:\n  - " + string.Join("\n  - ", e.Failures));
            return 2;
        }
        catch (Exception e) when (e is InvalidDataException or BoardProfileException or DirectoryNotFoundException)
        {
            // A bad nodes file, board profile or store: say which and stop, rather than a stack trace from deep in the host.
            Console.Error.WriteLine($"tinymlops-gateway: cannot start: {e.Message}");
            return 2;
        }
        catch (Exception e)
        {
            // Anything else (a port in use, a failed start-up): one line, and an exit code systemd counts as a failure.
            Console.Error.WriteLine($"tinymlops-gateway: stopped on an error: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    /// <summary>
    /// Runs <paramref name="app"/> until it stops; 0 after an ordinary stop (or the code a worker set in
    /// <see cref="Environment.ExitCode"/>, as a new application that failed its trial does), 1 when it stopped because a
    /// background service failed (the host's own policy stops it then, and would otherwise exit 0, so systemd would not
    /// count it).
    /// </summary>
    public static async Task<int> RunAsync(WebApplication app)
    {
        List<IHostedService> services = app.Services.GetServices<IHostedService>().ToList(); // the provider is disposed once the host has run
        await app.RunAsync().ConfigureAwait(false);
        foreach (IHostedService service in services)
        {
            if (service is BackgroundService { ExecuteTask: { IsFaulted: true } task })
            {
                Console.Error.WriteLine($"tinymlops-gateway: stopped because {service.GetType().Name} failed: {task.Exception?.GetBaseException().Message}");
                return 1;
            }
        }

        return Environment.ExitCode;
    }
}
