"""The tables behind digest.latex, pure data: what each LaTeX command turns into.

Written as "name sign" pairs, one string per kind, so the whole vocabulary
reads at a glance. A kind says how the converter places the sign: a relation
or binary operator gets the spaces the source gave it, a function name is
set off from the letters around it.
"""

from __future__ import annotations

import unicodedata


def _pairs(text: str) -> dict[str, str]:
    items = text.split()
    return dict(zip(items[::2], items[1::2]))


GREEK = _pairs("""
alpha α beta β gamma γ delta δ epsilon ϵ varepsilon ε zeta ζ eta η theta θ vartheta ϑ iota ι kappa κ
varkappa ϰ lambda λ mu μ nu ν xi ξ omicron ο pi π varpi ϖ rho ρ varrho ϱ sigma σ varsigma ς tau τ
upsilon υ phi ϕ varphi φ chi χ psi ψ omega ω digamma ϝ
Gamma Γ Delta Δ Theta Θ Lambda Λ Xi Ξ Pi Π Sigma Σ Upsilon Υ Phi Φ Psi Ψ Omega Ω
varGamma Γ varDelta Δ varTheta Θ varLambda Λ varXi Ξ varPi Π varSigma Σ varUpsilon Υ varPhi Φ varPsi Ψ varOmega Ω
""")

# Ordinary symbols: placed as they come.
SYMBOLS = _pairs("""
infty ∞ partial ∂ nabla ∇ ell ℓ hbar ℏ hslash ℏ imath ı jmath ȷ aleph ℵ beth ℶ wp ℘ Re ℜ Im ℑ
emptyset ∅ varnothing ∅ forall ∀ exists ∃ nexists ∄ neg ¬ lnot ¬ top ⊤ bot ⊥ angle ∠ measuredangle ∡
triangle △ Box □ square □ blacksquare ■ Diamond ◇ lozenge ◊ bigstar ★ dagger † ddagger ‡
prime ′ backprime ‵ sharp ♯ flat ♭ natural ♮ clubsuit ♣ diamondsuit ♢ heartsuit ♡ spadesuit ♠ checkmark ✓
dots … ldots … cdots ⋯ vdots ⋮ ddots ⋱ sum ∑ prod ∏ coprod ∐ int ∫ iint ∬ iiint ∭ oint ∮
bigcup ⋃ bigcap ⋂ bigoplus ⨁ bigotimes ⨂ bigodot ⨀ bigvee ⋁ bigwedge ⋀ bigsqcup ⨆ biguplus ⨄
langle ⟨ rangle ⟩ lceil ⌈ rceil ⌉ lfloor ⌊ rfloor ⌋ lvert | rvert | vert | lVert ‖ rVert ‖ Vert ‖ | ‖
uparrow ↑ downarrow ↓ Uparrow ⇑ Downarrow ⇓ updownarrow ↕ nearrow ↗ searrow ↘ nwarrow ↖ swarrow ↙
backslash \\ surd √ degree ° Bbbk 𝕜 complement ∁ eth ð mho ℧ Finv Ⅎ therefore ∴ because ∵
S § P ¶ copyright © pounds £ euro € textdegree ° textbullet • textendash – textemdash — textellipsis …
textbackslash \\ textasciitilde ~ textasciicircum ^ textunderscore _ textbar | textless < textgreater >
textquoteleft ‘ textquoteright ’ textquotedblleft “ textquotedblright ” textregistered ® texttrademark ™
textmu µ textperthousand ‰ textdagger † textsection § textparagraph ¶ textcopyright © micro µ
i ı j ȷ ss ß o ø O Ø ae æ AE Æ oe œ OE Œ aa å AA Å l ł L Ł dh ð DH Ð th þ TH Þ ng ŋ NG Ŋ
LaTeX LaTeX TeX TeX
""")

# Binary operators: spaced as the source spaces them ("2\\times 2" and "n \\times m").
OPERATORS = _pairs("""
times × cdot · pm ± mp ∓ div ÷ ast ∗ circ ∘ bullet • oplus ⊕ ominus ⊖ otimes ⊗ oslash ⊘ odot ⊙
cup ∪ cap ∩ sqcup ⊔ sqcap ⊓ uplus ⊎ setminus ∖ smallsetminus ∖ wedge ∧ land ∧ vee ∨ lor ∨
rtimes ⋊ ltimes ⋉ bowtie ⋈ Join ⋈ wr ≀ amalg ⨿ diamond ⋄ bigtriangleup △ bigtriangledown ▽
triangleleft ◁ triangleright ▷ lhd ⊲ rhd ⊳ unlhd ⊴ unrhd ⊵ dotplus ∔ boxplus ⊞ boxtimes ⊠ star ⋆
""")

RELATIONS = _pairs("""
ne ≠ neq ≠ le ≤ leq ≤ ge ≥ geq ≥ leqslant ≤ geqslant ≥ leqq ≦ geqq ≧ lneq ⪇ gneq ⪈ ll ≪ gg ≫ lll ⋘ ggg ⋙
lesssim ≲ gtrsim ≳ lessapprox ⪅ gtrapprox ⪆ lessgtr ≶ gtrless ≷ nless ≮ ngtr ≯ nleq ≰ ngeq ≱
sim ∼ nsim ≁ simeq ≃ approx ≈ approxeq ≊ cong ≅ ncong ≇ equiv ≡ asymp ≍ doteq ≐ triangleq ≜ propto ∝
coloneqq ≔ eqqcolon ≕ coloneq ≔ prec ≺ succ ≻ preceq ⪯ succeq ⪰ precsim ≾ succsim ≿
in ∈ notin ∉ ni ∋ owns ∋ subset ⊂ supset ⊃ subseteq ⊆ supseteq ⊇ subsetneq ⊊ supsetneq ⊋
nsubseteq ⊈ nsupseteq ⊉ sqsubset ⊏ sqsupset ⊐ sqsubseteq ⊑ sqsupseteq ⊒
mid ∣ nmid ∤ parallel ∥ nparallel ∦ perp ⊥ models ⊨ vdash ⊢ dashv ⊣ vDash ⊨ Vdash ⊩ nvdash ⊬
to → rightarrow → gets ← leftarrow ← leftrightarrow ↔ mapsto ↦ longmapsto ⟼ longrightarrow ⟶
longleftarrow ⟵ longleftrightarrow ⟷ Rightarrow ⇒ Leftarrow ⇐ Leftrightarrow ⇔ Longrightarrow ⟹
Longleftarrow ⟸ Longleftrightarrow ⟺ implies ⟹ impliedby ⟸ iff ⟺ hookrightarrow ↪ hookleftarrow ↩
rightharpoonup ⇀ leftharpoondown ↽ rightleftharpoons ⇌ leadsto ⇝ rightsquigarrow ⇝ rightrightarrows ⇉
leftleftarrows ⇇ twoheadrightarrow ↠ rightarrowtail ↣ colon : vartriangleleft ⊲
trianglelefteq ⊴ ntriangleleft ⋪ approxident ≋ bumpeq ≏ Bumpeq ≎ circeq ≗ eqcirc ≖ risingdotseq ≓
""")

FUNCTIONS = frozenset("""
log ln lg exp sin cos tan cot sec csc sinh cosh tanh coth arcsin arccos arctan max min sup inf lim liminf limsup
det dim ker deg gcd hom arg Pr argmax argmin mod bmod
""".split())

# Accents: the combining mark each adds.
TEXT_ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
                ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328",
                "r": "\u030a", "d": "\u0323", "b": "\u0331", "t": "\u0361"}
MATH_ACCENTS = {"hat": "\u0302", "widehat": "\u0302", "check": "\u030c", "widecheck": "\u030c", "tilde": "\u0303",
                "widetilde": "\u0303", "acute": "\u0301", "grave": "\u0300", "dot": "\u0307", "ddot": "\u0308",
                "dddot": "\u20db", "breve": "\u0306", "bar": "\u0304", "overline": "\u0305", "vec": "\u20d7",
                "overrightarrow": "\u20d7", "mathring": "\u030a", "underline": "\u0332", "underbar": "\u0332"}
# Marks that read right over a whole run of letters, one per letter (an overline over "AB" is a line).
LINE_ACCENTS = frozenset({"overline", "underline", "underbar", "bar"})

# Commands that wrap text or math and add nothing a reader of plain text needs.
MATH_WRAPPERS = frozenset("""
mathrm mathit mathbf mathsf mathtt mathnormal boldsymbol bm pmb mathop mathord mathbin mathrel mathpunct
mathopen mathclose ensuremath displaystyle underbrace overbrace boxed fbox operatorname operatorname*
""".split())
TEXT_WRAPPERS = frozenset("""
text textrm textit textbf textsf texttt textup textsl textmd textnormal textsc emph mbox hbox makebox
textmath uppercase MakeUppercase lowercase MakeLowercase
""".split())
# Dropped, with no argument: sizes, font switches, delimiter sizes, style switches.
DROPPED = frozenset("""
left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr bigm Bigm biggm Biggm
displaystyle textstyle scriptstyle scriptscriptstyle limits nolimits rm bf it em sl sf tt sc up md
upshape itshape bfseries mdseries normalfont rmfamily sffamily ttfamily scshape slshape
tiny scriptsize footnotesize small normalsize large Large LARGE huge Huge
noindent indent nonumber notag relax protect centering raggedright hfill vfill ! / - @ allowbreak
nobreak smallskip medskip bigskip par
""".split())
# Dropped with their one argument: labels, vertical space, invisible boxes, MathJax directives.
DROPPED_WITH_ARGUMENT = frozenset("label vspace vspace* phantom hphantom vphantom require index nocite".split())
SPACES = frozenset(", ; : > quad qquad enspace thinspace medspace thickspace negthinspace newline linebreak".split())
SPACES_WITH_ARGUMENT = frozenset("hspace hspace*".split())
# Widely used abbreviation macros (the CVPR style's \eg, \ie, \etal ...): their text.
ABBREVIATIONS = {**_pairs("eg e.g. Eg E.g. ie i.e. Ie I.e. etc etc. vs vs. wrt w.r.t. cf cf. Cf Cf. aka a.k.a. "
                          "iid i.i.d."), "etal": "et al."}
ESCAPES = {"%": "%", "&": "&", "#": "#", "_": "_", "$": "$", "{": "{", "}": "}", " ": " ", "\n": " ", "\\": " "}

SUPERSCRIPTS = str.maketrans({
    **dict(zip("0123456789+-−=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾")),
    **dict(zip("abcdefghijklmnoprstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ")),
    **dict(zip("ABDEGHIJKLMNOPRTUVW", "ᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂ")),
    **dict(zip("βγδθφχε", "ᵝᵞᵟᶿᵠᵡᵋ")), "⊤": "ᵀ", "∗": "*", "*": "*", "′": "′", "†": "†", "∘": "°", "°": "°"})
SUBSCRIPTS = str.maketrans({
    **dict(zip("0123456789+-−=()", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎")),
    **dict(zip("aehijklmnoprstuvx", "ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")), **dict(zip("βγρφχ", "ᵦᵧᵨᵩᵪ"))})


def _alphabet(*styles: str) -> dict[str, str]:
    """Letters (and digits) in a mathematical style, from their Unicode names: the BMP letters that predate the
    Mathematical Alphanumeric Symbols block (ℝ, ℱ, ℭ ...) fill its holes."""
    out = {}
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789":
        case = "DIGIT" if ch.isdigit() else "CAPITAL" if ch.isupper() else "SMALL"
        spelled = unicodedata.name(ch).split()[-1]
        for style in styles:
            try:
                out[ch] = unicodedata.lookup(f"{style} {case} {spelled}")
                break
            except KeyError:
                continue
    return out


_BLACKBOARD = _alphabet("MATHEMATICAL DOUBLE-STRUCK", "DOUBLE-STRUCK")
_SCRIPT = _alphabet("MATHEMATICAL SCRIPT", "SCRIPT")
_FRAKTUR = _alphabet("MATHEMATICAL FRAKTUR", "BLACK-LETTER", "MATHEMATICAL FRAKTUR")
ALPHABETS = {name: table for names, table in (("mathbb Bbb mathbbm bbold", _BLACKBOARD),
                                             ("mathcal cal mathscr", _SCRIPT), ("mathfrak frak", _FRAKTUR))
             for name in names.split()}
# Shorthands authors define for the number sets (\R, \RR, \EE ...); arXiv's MathJax knows several of them.
SYMBOLS.update({letter: _BLACKBOARD[letter] for letter in "RZNQC"})
SYMBOLS.update({letter * 2: _BLACKBOARD[letter] for letter in "RZNQCPEFHK"})
