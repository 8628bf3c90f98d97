using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using TinyMlops.Contracts;
using TinyMlops.Registry;
using TinyMlops.Releases;
using TinyMlops.Trainer;

namespace TinyMlops.TrainerService;

/// <summary>What an operator asks to start a rollout.</summary>
public sealed record RolloutStartRequest(int BoardClass, long? Sequence, string Groups, double Success, double Abort);

/// <summary>A provisioned node to register (<c>POST /api/admin/nodes</c>): its key is named by a digest, never sent.</summary>
public sealed record NodeRegistration(string Id, string Board, int BoardClass, string? Gateway, string? Site, string KeyId);

/// <summary>What an operator asks of an alias or a rollout's state, and why.</summary>
public sealed record ChangeRequest(string Target, string Reason);

/// <summary>
/// The operator's side of the trainer service, for <c>tinymlops … --trainer URL</c>: releases, models, aliases and
/// rollouts, authenticated with an operator token (<c>Trainer:OperatorTokenFile</c>: one per line, owner-only; gateway
/// credentials are not accepted here). A release is evaluated and signed inside the service with its own keys
/// (<c>Trainer:KeysDirectory</c>) on its evaluation set (<c>Trainer:EvaluationData</c>, else the registry's last):
/// the model folder travels, the private keys never do.
/// <list type="bullet">
/// <item><c>POST /api/admin/releases</c> (multipart: the model folder's files, each part named by its path in the
/// folder (<see cref="ReleaseFolder.Files"/>); <c>force</c>, <c>minGateway</c>,
/// <c>shadowAgreement</c>): a <see cref="ReleaseView"/>, or 409 with the gate's figures.</item>
/// <item><c>GET /api/admin/models[?boardClass=N]</c>: a <see cref="ModelsView"/>.</item>
/// <item><c>POST /api/admin/models/{version}/alias</c> (<see cref="ChangeRequest"/>: the alias and why).</item>
/// <item><c>GET|POST /api/admin/nodes</c>, <c>DELETE /api/admin/nodes/{id}</c>: registered nodes (<see cref="NodeStatus"/>),
/// registering one (<see cref="NodeRegistration"/>; 409 when the id is taken by another identity), revoking one;
/// <c>GET /api/admin/champion/{boardClass}</c>: the release a new node starts with (<see cref="ChampionRelease"/>).</item>
/// <item><c>POST /api/admin/rollouts</c> (<see cref="RolloutStartRequest"/>), <c>GET /api/admin/rollouts/current[?id=N]</c>
/// (a <see cref="RolloutView"/>), <c>POST /api/admin/rollouts/{id}/state</c> (<see cref="ChangeRequest"/>: the state and why).</item>
/// </list>
/// </summary>
public static class AdminEndpoints
{
    private const long MaxUpload = 64L << 20;

    /// <summary>Maps the operator endpoints.</summary>
    public static void Map(WebApplication app)
    {
        var operators = new OperatorTokens(app.Configuration["Trainer:OperatorTokenFile"]);
        RouteGroupBuilder admin = app.MapGroup("/api/admin").AddEndpointFilter(async (context, next) =>
            !operators.IsConfigured ? Results.Problem("no operator tokens are configured (Trainer:OperatorTokenFile)", statusCode: 403)
            : !operators.Verify(context.HttpContext.Request.Headers.Authorization) ? Results.Problem("an operator token is required (Authorization: Bearer TOKEN)", statusCode: 401)
            : await next(context).ConfigureAwait(false));

        admin.MapPost("/releases", async (HttpRequest request, ModelRegistry registry) =>
        {
            if (!request.HasFormContentType)
            {
                return Results.BadRequest(new { error = "a release is uploaded as multipart/form-data: the model folder's files" });
            }

            IFormCollection form = await request.ReadFormAsync().ConfigureAwait(false);
            string folder = Path.Combine(Path.GetTempPath(), "tinymlops-upload-" + Guid.NewGuid().ToString("N"));
            try
            {
                Directory.CreateDirectory(folder);
                long total = 0;
                foreach (IFormFile file in form.Files)
                {
                    // The part's name is its path in the folder, and only the paths a release reads are taken.
                    total += file.Length;
                    if (!ReleaseFolder.Files.Contains(file.Name) || total > MaxUpload)
                    {
                        return Results.BadRequest(new { error = $"'{file.Name}' is not one of a model folder's files ({string.Join(", ", ReleaseFolder.Files)}), or the upload passes {MaxUpload >> 20} MiB" });
                    }

                    string path = Path.Combine(folder, file.Name);
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    await using FileStream target = File.Create(path);
                    await file.CopyToAsync(target).ConfigureAwait(false);
                }

                KeyStore keys = KeyStore.Open(app.Configuration["Trainer:KeysDirectory"] ?? "keys");
                ReleaseOutcome outcome = Releasing.Release(new ReleaseRequest
                {
                    ModelDirectory = folder,
                    Registry = registry,
                    Keys = keys,
                    EvaluationData = app.Configuration["Trainer:EvaluationData"],
                    ForceReason = form["force"] is { Count: > 0 } force ? force.ToString() : null,
                    MinGatewayVersion = form["minGateway"] is { Count: > 0 } min ? min.ToString() : Releasing.CodeVersion.ToString(3),
                    ShadowAgreement = form["shadowAgreement"] is { Count: > 0 } agreement && double.TryParse(agreement, System.Globalization.CultureInfo.InvariantCulture, out double a) ? a : 0.9,
                });
                return Results.Ok(ReleaseView.Of(outcome, keys.Current().Certificate.KeyId));
            }
            catch (ReleaseGateException e)
            {
                return Results.Conflict(new { error = e.Message, gate = e.Gate });
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or ReleaseException)
            {
                return Results.BadRequest(new { error = e.Message });
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        });

        admin.MapGet("/models", (ModelRegistry registry, int? boardClass) => Results.Ok(registry.View(boardClass)));

        admin.MapPost("/models/{version}/alias", IResult (ModelRegistry registry, string version, ChangeRequest change) =>
        {
            if (registry.Find(version) == null)
            {
                return Results.NotFound(new { error = $"no version '{version}' in {registry.Location}" });
            }

            return Refusals(() =>
            {
                registry.SetAlias(version, change.Target, change.Reason);
                return Results.NoContent();
            });
        });

        admin.MapPost("/rollouts", (ModelRegistry registry, RolloutStartRequest start) => Refusals(() =>
        {
            long sequence = start.Sequence ?? registry.LatestReleases([start.BoardClass]).FirstOrDefault()?.Sequence
                ?? throw new ArgumentException($"board class {start.BoardClass} has no release: 'tinymlops release' one first");
            return Results.Ok(registry.StartRollout(start.BoardClass, sequence, RolloutPlan.ParseGroups(start.Groups), start.Success, start.Abort));
        }));

        admin.MapGet("/rollouts/current", (ModelRegistry registry, long? id) =>
            registry.Rollouts(null).FirstOrDefault(r => id == null || r.Id == id) is { } r
                ? Results.Ok(new RolloutView(r, registry.RolloutNodes(r.Id)))
                : Results.NotFound(new { error = id == null ? "there is no rollout yet: 'tinymlops rollout start' one" : $"there is no rollout {id}" }));

        admin.MapPost("/rollouts/{id:long}/state", (ModelRegistry registry, long id, ChangeRequest change) =>
            Refusals(() => Results.Ok(registry.SetRolloutState(id, change.Target, change.Reason))));

        admin.MapGet("/nodes", (ModelRegistry registry) => Results.Ok(registry.NodeStatuses()));
        admin.MapPost("/nodes", (ModelRegistry registry, NodeRegistration? n) => n == null
            ? Results.BadRequest(new { error = "a node registration (id, board, boardClass, gateway, site, keyId) is required" })
            : Refusals(() => Results.Ok(registry.RegisterNode(n.Id, n.Board, n.BoardClass, n.Gateway, n.Site, n.KeyId))));
        admin.MapDelete("/nodes/{id}", (ModelRegistry registry, string id) =>
            registry.RemoveNode(id) ? Results.NoContent() : Results.NotFound(new { error = $"node {LogText.Safe(id)} is not registered" }));
        admin.MapGet("/champion/{boardClass:int}", (ModelRegistry registry, int boardClass) =>
            registry.ChampionFor(boardClass) is { } c ? Results.Ok(c) : Results.NotFound(new { error = $"board class {boardClass} has no champion" }));
    }

    // The registry says why it refuses by the exception's type: what was asked is wrong (400), or the state forbids it (409).
    private static IResult Refusals(Func<IResult> work)
    {
        try
        {
            return work();
        }
        catch (ArgumentException e)
        {
            return Results.BadRequest(new { error = e.Message });
        }
        catch (InvalidOperationException e)
        {
            return Results.Conflict(new { error = e.Message });
        }
    }
}
