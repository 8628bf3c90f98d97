using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace TinyMlops.NanoApiCheck;

/// <summary>
/// Compiles device sources against reference declarations generated from the nanoFramework API listings (and
/// nothing else), then applies the nanoFramework 1.x subset rules. Every problem is reported as "file(line): text".
/// </summary>
public sealed class NanoApiChecker
{
    private static readonly Regex StandardFormat = new(@"^[DdEeFfGgNnXx]\d{0,2}$", RegexOptions.Compiled);
    private readonly ApiListing _listing;
    private readonly MetadataReference _stubs;
    private readonly MetadataReference[] _references;

    /// <summary>Reference declarations for every listed assembly, mscorlib included, generated from the listings.</summary>
    public NanoApiChecker(string listingDirectory)
        : this(ApiListing.Load(listingDirectory), null)
    {
    }

    private NanoApiChecker(ApiListing listing, string? realCoreLibrary)
    {
        _listing = listing;
        MetadataReference[] core = realCoreLibrary == null ? Array.Empty<MetadataReference>() : new[] { MetadataReference.CreateFromFile(realCoreLibrary) };

        // With the real mscorlib, only the other assemblies are generated, compiled against it.
        StubSource = realCoreLibrary == null ? StubGenerator.Generate(_listing) : StubGenerator.Generate(_listing, t => t.Assembly != "mscorlib");
        CSharpCompilation stubs = CSharpCompilation.Create(
            "nanoFramework.Reference",
            new[] { CSharpSyntaxTree.ParseText(StubSource, new CSharpParseOptions(LanguageVersion.CSharp12)) },
            core,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Disable));
        using var ms = new MemoryStream();
        Microsoft.CodeAnalysis.Emit.EmitResult result = stubs.Emit(ms);
        StubErrors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
        _stubs = MetadataReference.CreateFromImage(ms.ToArray());
        _references = core.Append(_stubs).ToArray();
        CoreLibrary = realCoreLibrary;
    }

    /// <summary>
    /// A checker whose mscorlib is nanoFramework's own assembly (<paramref name="mscorlib"/>, from the
    /// nanoFramework.CoreLibrary package), and only the other assemblies are generated from the listings.
    /// </summary>
    public static NanoApiChecker WithRealCoreLibrary(string listingDirectory, string mscorlib) => new(ApiListing.Load(listingDirectory), mscorlib);

    /// <summary>The real mscorlib compiled against, or null when it too comes from the listings.</summary>
    public string? CoreLibrary { get; }

    /// <summary>The generated reference declarations.</summary>
    public string StubSource { get; }

    /// <summary>Errors compiling the reference declarations themselves (must be empty).</summary>
    public IReadOnlyList<string> StubErrors { get; }

    /// <summary>The listings behind the check.</summary>
    public ApiListing Listing => _listing;

    /// <summary>
    /// Checks <paramref name="files"/> (device sources). When <paramref name="packagesConfig"/> is given, every
    /// nanoFramework assembly the sources use must come from a package it lists.
    /// </summary>
    public IReadOnlyList<string> Check(IReadOnlyList<string> files, string? packagesConfig = null)
    {
        var problems = new List<string>();
        var parse = new CSharpParseOptions(LanguageVersion.CSharp12);
        List<SyntaxTree> trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, path: f)).ToList();
        CSharpCompilation compilation = CSharpCompilation.Create(
            "DeviceCode",
            trees,
            _references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Disable));
        foreach (Diagnostic d in compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error))
        {
            problems.Add(Where(d.Location) + ": not in the nanoFramework API: " + d.GetMessage());
        }

        var usedAssemblies = new HashSet<string>(StringComparer.Ordinal);
        foreach (SyntaxTree tree in trees)
        {
            SemanticModel model = compilation.GetSemanticModel(tree);
            foreach (SyntaxNode node in tree.GetRoot().DescendantNodes())
            {
                string? rule = SubsetRule(node, model);
                if (rule != null)
                {
                    problems.Add(Where(node.GetLocation()) + ": " + rule);
                }

                if (node is IdentifierNameSyntax or GenericNameSyntax)
                {
                    ISymbol? s = model.GetSymbolInfo(node).Symbol;
                    INamedTypeSymbol? type = s as INamedTypeSymbol ?? s?.ContainingType;
                    while (type?.ContainingType != null)
                    {
                        type = type.ContainingType;
                    }

                    if (type != null && SymbolEqualityComparer.Default.Equals(type.ContainingAssembly, compilation.GetAssemblyOrModuleSymbol(_stubs)))
                    {
                        string id = type.GetDocumentationCommentId()![2..];
                        if (_listing.Types.TryGetValue(id, out ListedType? listed))
                        {
                            usedAssemblies.Add(listed.Assembly);
                        }
                    }
                }
            }
        }

        if (packagesConfig != null)
        {
            var packages = XDocument.Load(packagesConfig).Descendants("package").Select(p => (string)p.Attribute("id")!).ToHashSet(StringComparer.Ordinal);
            foreach (string assembly in usedAssemblies.OrderBy(a => a, StringComparer.Ordinal))
            {
                if (_listing.PackageOfAssembly.TryGetValue(assembly, out string? package) && !packages.Contains(package))
                {
                    problems.Add($"{packagesConfig}: uses {assembly} but does not list its package {package}");
                }
            }
        }

        return problems;
    }

    private static string? SubsetRule(SyntaxNode node, SemanticModel model)
    {
        switch (node)
        {
            case TypeParameterListSyntax:
                return "generics are not supported by nanoFramework 1.x (type parameter list)";
            case GenericNameSyntax g:
                return $"generics are not supported by nanoFramework 1.x ({g.Identifier.Text}<…>)";
            case QueryExpressionSyntax:
                return "LINQ is not available on nanoFramework";
            case UsingDirectiveSyntax u when u.Name?.ToString() is "System.Linq" or "System.Threading.Tasks":
                return $"namespace {u.Name} is not available on nanoFramework";
            case AwaitExpressionSyntax:
                return "async/await is not supported by nanoFramework";
            case MethodDeclarationSyntax m when m.Modifiers.Any(SyntaxKind.AsyncKeyword):
                return "async methods are not supported by nanoFramework";
            case StackAllocArrayCreationExpressionSyntax:
                return "stackalloc is not supported by nanoFramework";
            case IdentifierNameSyntax id when id.Identifier.Text is "Span" or "ReadOnlySpan" or "Memory" or "ReadOnlyMemory":
                return $"{id.Identifier.Text}<T> is not available on nanoFramework";
            case NullableTypeSyntax n when model.GetTypeInfo(n).Type?.IsValueType == true:
                return "Nullable<T> value types are not supported by nanoFramework 1.x";
            case InvocationExpressionSyntax inv:
                return FormatRule(inv, model);
            case InterpolationFormatClauseSyntax f when !StandardFormat.IsMatch(f.FormatStringToken.ValueText):
                return $"custom numeric format \"{f.FormatStringToken.ValueText}\" is not supported by nanoFramework";
            default:
                return null;
        }
    }

    private static string? FormatRule(InvocationExpressionSyntax inv, SemanticModel model)
    {
        if (model.GetSymbolInfo(inv).Symbol is not IMethodSymbol method)
        {
            return null;
        }

        if (method.Name == "ToString" && inv.ArgumentList.Arguments.Count >= 1 && model.GetConstantValue(inv.ArgumentList.Arguments[0].Expression).Value is string format && !StandardFormat.IsMatch(format))
        {
            return $"custom numeric format \"{format}\" is not supported by nanoFramework (use D, E, F, G, N or X with a precision)";
        }

        if (method.Name == "Format" && method.ContainingType.Name == "String" && inv.ArgumentList.Arguments.Count >= 1 && model.GetConstantValue(inv.ArgumentList.Arguments[0].Expression).Value is string composite)
        {
            foreach (Match m in Regex.Matches(composite, @"\{\d+(?:,-?\d+)?:([^}]*)\}"))
            {
                if (!StandardFormat.IsMatch(m.Groups[1].Value))
                {
                    return $"custom numeric format \"{m.Groups[1].Value}\" in a format string is not supported by nanoFramework";
                }
            }
        }

        return null;
    }

    private static string Where(Location location)
    {
        FileLinePositionSpan span = location.GetLineSpan();
        return $"{span.Path}({span.StartLinePosition.Line + 1})";
    }
}
