"""The five documents' words, one builder each, in the product's own Dutch (built on the facts of
the regional handbook, seed 004, and a VO school's letter, seed 003; no sentence copied).

Each builder takes the school's facts and the deadlines in force and returns the parts of a
`Document`; `server.documents.build` adds what every document shares.
"""
from __future__ import annotations

from .model import (
    KINDERTELEFOON,
    VEILIG_THUIS,
    SchoolFacts,
    Section,
    _contact_people,
    _dl,
    _join,
    _municipality_phrase,
    _ol,
    _p,
    _receivers_phrase,
    _signature,
    _ul,
    gaps,
)


def _ouders(s: SchoolFacts, d: dict[str, int]) -> dict:
    """Letter to parents (handbook ch. 7, 13, 14): what HwC is, what school learns and does."""
    if s.is_vo:
        at_school = Section("Wat wij op school doen", (
            _p(f"Het signaal komt bij ons binnen bij {_receivers_phrase(s)}. De zorgcoördinator "
               "zoekt de leerling aan het begin van de schooldag op. Samen bespreken ze wat de "
               "leerling die dag nodig heeft en wie op school het mag weten, bijvoorbeeld de "
               "mentor. De leerling beslist daarover mee: wil de leerling niet dat de mentor "
               "het hoort, dan vertellen we het op school niet verder."),
            _p("We vragen niet door over wat er thuis is gebeurd. Uw kind bepaalt zelf of het "
               "iets vertelt. Steun is vaak heel gewoon: even rust, een toets op een ander "
               "moment, of iemand om mee te praten."),
        ))
        contact = _p("Na het gesprek met de leerling neemt de zorgcoördinator contact met u op, "
                     "als dat veilig kan. Niet om te vragen wat er is gebeurd, en zeker niet om "
                     "te oordelen, maar om te vertellen dat we een signaal hebben gekregen en "
                     "hoe we uw kind steunen.")
        first_talk = "de zorgcoördinator"
    else:
        at_school = Section("Wat wij op school doen", (
            _p(f"Het signaal komt bij ons binnen bij {_receivers_phrase(s)}. Daarna hoort "
               "alleen de groepsleerkracht van uw kind het, verder niemand."),
            _p("De leerkracht let die dag extra op uw kind en is er als uw kind iets kwijt wil. "
               "We vragen uw kind niet uit over wat er thuis is gebeurd: uw kind bepaalt zelf "
               "of het iets vertelt. Steun is vaak heel gewoon: een rustig plekje in de klas, "
               "een toets een dag later, wat meer tijd en aandacht."),
        ))
        contact = _p("Als het veilig kan, neemt de leerkracht daarna contact met u op. Niet om "
                     "te vragen wat er is gebeurd, en zeker niet om te oordelen, maar om te "
                     "vertellen dat we een signaal hebben gekregen en hoe we uw kind steunen.")
        first_talk = "de leerkracht"
    sections = (
        Section("", (
            _p(f"{s.name} doet mee aan Handle with Care. Daarmee willen we een kind dat thuis "
               "huiselijk geweld of kindermishandeling heeft meegemaakt, en waarbij de politie "
               "is gekomen, de eerstvolgende schooldag opvangen en steunen. In deze brief "
               "leest u hoe dat werkt en wat de school wel en niet te weten komt."),
            _p("Een kind dat zoiets meemaakt, neemt die spanning mee naar school. Meestal weet "
               "niemand op school ervan, en dan krijgt het kind ook geen extra aandacht. Juist "
               "op die dag kan wat rust, aandacht en begrip veel verschil maken: een kind dat "
               "zich gezien voelt, komt sneller tot rust en kan weer aan leren toekomen."),
        )),
        Section("Hoe het signaal bij school komt", (
            _ol("De politie komt bij een gezin met kinderen vanwege huiselijk geweld of "
                "kindermishandeling. Als de situatie het toelaat, vertellen de agenten de "
                "ouders dat er een melding naar Veilig Thuis gaat en dat de school een signaal "
                "kan krijgen.",
                "De politie meldt het aan Veilig Thuis en geeft daarbij door welke kinderen "
                "erbij betrokken waren.",
                f"Veilig Thuis geeft een Handle with Care-signaal door aan leerplicht van "
                f"{_municipality_phrase(s, chain=True)}.",
                "De gemeente weet op welke school het kind staat ingeschreven en stuurt het "
                "signaal naar die school, zo mogelijk vóór het begin van de volgende schooldag."),
            _p("In het signaal staan alleen de naam en de geboortedatum van het kind en het "
               "codewoord ‘Handle with Care’."),
            _p("wat er is gebeurd, waar, of wie erbij waren. Dat hoeven we ook niet te weten om "
               "een kind te kunnen steunen.", lead="De school hoort niet"),
        )),
        at_school,
        Section("Contact met u", (
            contact,
            _p("Zo komt uw kind niet tussen school en thuis in te staan. Soms is contact op dat "
               "moment niet verstandig, bijvoorbeeld voor de veiligheid van uw kind; dan "
               "wachten we daarmee. Weet u zelf dat de politie bij u thuis is geweest, dan mag "
               f"u natuurlijk ook zelf contact opnemen met {first_talk}."),
        )),
        Section("Zorgvuldig met het signaal", (
            _p("We gaan heel voorzichtig met het signaal om. We zetten het niet in het "
               "leerlingdossier of het leerlingvolgsysteem en schrijven het nergens op. Het "
               "signaal komt binnen in een beveiligde app die alleen onze contactpersonen voor "
               "Handle with Care en hun vervanger kunnen openen, en dan maar één keer. De "
               f"{s.teacher_word} krijgt een bericht van één regel dat ook maar één keer te "
               "lezen is. Daarna wordt alles vanzelf gewist. Opent niemand het signaal, dan "
               f"wordt het na {d['unopened_expiry_days']} dagen gewist (rond een vakantie iets "
               "later)."),
            _p("Van een afgerond signaal blijft niets over dat naar uw kind te herleiden is: "
               "alleen een telling per maand, zonder namen."),
            _p("Handle with Care komt naast wat de school altijd al doet. Maken wij ons zelf "
               "zorgen over een kind, dan volgen we, zoals elke school, de meldcode huiselijk "
               "geweld en kindermishandeling."),
        )),
        Section("Uw rechten", (
            _ul("U mag ons altijd vragen hoe we met Handle with Care werken.",
                "Handle with Care laat niets achter in het dossier van uw kind. Wilt u het "
                "dossier van uw kind op school inzien, dan kunt u dat bij ons opvragen. Uw "
                "dossier bij Veilig Thuis vraagt u op bij Veilig Thuis zelf.",
                "Bent u het niet eens met hoe we met een signaal zijn omgegaan, bespreek het "
                f"dan eerst met {first_talk}. Komt u er samen niet uit, dan kunt u een gesprek "
                "vragen met de directeur. Helpt ook dat niet, dan kunt u een klacht indienen "
                "volgens de klachtenregeling in onze schoolgids."),
        )),
        Section("Vragen?", (
            _p(f"Wilt u meer weten, neem dan gerust contact op met {_contact_people(s)}."
               + (f" U kunt ook terecht bij de directie: {_join(s.directors)}."
                  if s.receiver_names and s.directors else "")),
            _p("Maakt u zich zorgen over huiselijk geweld of kindermishandeling, bij uzelf of "
               "bij iemand anders? Bij Veilig Thuis kunt u dag en nacht gratis terecht voor "
               f"advies: {VEILIG_THUIS}."),
        )),
    )
    return dict(heading="Handle with Care", sections=sections,
                audience=f"Aan de ouders en verzorgers van de leerlingen van {s.name}",
                subject=f"Handle with Care op {s.name}",
                greeting="Beste ouders en verzorgers,", closing="Met vriendelijke groet,",
                signature=_signature(s))


def _leerlingen(s: SchoolFacts, d: dict[str, int]) -> dict:
    """Letter for pupils (handbook ch. 8): the same facts in words a pupil of that age reads."""
    who = _contact_people(s)
    mentor_or = _join(("je mentor",) + (s.receiver_names or ("de zorgcoördinator",)), "of")
    if s.is_vo:
        sections = (
            Section("", (
                _p(f"Op {s.name} willen we dat je je veilig voelt, op school en thuis. Bij "
                   "sommige leerlingen is het thuis niet veilig. Er wordt geschreeuwd, gedreigd "
                   "of geslagen, tussen ouders of tegen kinderen. Dat heet huiselijk geweld. "
                   "Soms komt de politie daarvoor langs. Wat er ook gebeurt: het is nooit jouw "
                   "schuld."),
                _p("Na zo’n avond of nacht ga je de volgende dag gewoon naar school, terwijl je "
                   "hoofd er misschien helemaal niet bij is. Daarom doet onze school mee aan "
                   "Handle with Care: zodat je op school wat extra steun krijgt als je die nodig "
                   "hebt."),
            )),
            Section("Hoe werkt het?", (
                _p("Is de politie bij jou thuis geweest vanwege huiselijk geweld, dan geeft "
                   "Veilig Thuis dat door aan de gemeente, en de gemeente aan onze school. Wij "
                   "krijgen dan alleen je naam, je geboortedatum en het codewoord Handle with "
                   "Care. Wat er is gebeurd, horen we niet."),
            )),
            Section("Wat gebeurt er op school?", (
                _p(f"Het bericht komt binnen bij {_receivers_phrase(s)}. De zorgcoördinator "
                   "zoekt je aan het begin van de schooldag op voor een kort gesprek. Je hoeft niet te vertellen "
                   "wat er is gebeurd. Samen bespreken jullie wat je die dag nodig hebt en wie "
                   "op school het mag weten, bijvoorbeeld je mentor. Jij beslist mee. Wil je "
                   "niet dat je mentor het weet, dan blijft het bij de zorgcoördinator."),
                _p("Steun kan bijvoorbeeld zijn:"),
                _ul("even een rustige plek als het in de les te veel wordt;",
                    "een toets of inleverdatum die een paar dagen opschuift;",
                    "iemand bij wie je terechtkunt als je wilt praten."),
                _p("Na het gesprek met jou laat de zorgcoördinator je ouders of verzorgers "
                   "weten dat de school je steunt, als dat veilig kan. Vind je dat spannend, "
                   "zeg het dan in het gesprek; dan denken we met je mee."),
            )),
            Section("Wat gebeurt er met het bericht?", (
                _p("Je medeleerlingen horen er niets van. We schrijven het niet op en zetten het "
                   "niet in je dossier. Het bericht staat in een beveiligde app en wordt gewist "
                   "zodra het gelezen is."),
            )),
            Section("Zelf praten", (
                _p("Ook als de politie niet is geweest, kun je altijd bij "
                   f"{mentor_or} terecht als het thuis niet goed gaat. Liever anoniem praten? Dat kan "
                   f"bij de Kindertelefoon ({KINDERTELEFOON}, gratis, ook via de chat) of bij "
                   f"Veilig Thuis ({VEILIG_THUIS})."),
                _p(f"Heb je vragen over deze brief? Stel ze aan {mentor_or}."),
            )),
        )
        greeting, closing = "Beste leerling,", "Met vriendelijke groet,"
    else:
        who_opens = _join(s.receiver_names) or "de intern begeleider"
        sections = (
            Section("", (
                _p("Op onze school willen we dat iedereen zich veilig voelt: hier op school, "
                   "maar ook thuis. Bij sommige kinderen gaat het thuis niet goed. Er wordt "
                   "bijvoorbeeld hard ruzie gemaakt of geschreeuwd, er wordt geslagen of er gaan "
                   "dingen kapot. Dat noemen we huiselijk geweld. Het is nooit de schuld van een "
                   "kind."),
                _p("Soms wordt de politie erbij gehaald. Dat is heel spannend, en de volgende "
                   "dag kun je er nog vol van zitten. Daarom doen wij mee met Handle with Care. "
                   "Dat is Engels en betekent zoiets als: ‘ga er voorzichtig mee om’."),
            )),
            Section("Hoe werkt het?", (
                _p("Is de politie bij jou thuis geweest, dan krijgt de school een kort berichtje "
                   "van de gemeente. Daarin staan alleen jouw naam, je geboortedatum en de "
                   "woorden Handle with Care. Wat er is gebeurd, staat er niet in."),
                _p(f"Het berichtje komt op school bij {who_opens}. Daarna hoort alleen jouw juf of meester het, verder niemand. "
                   "Je klasgenoten weten het dus niet."),
            )),
            Section("Wat doet je juf of meester?", (
                _p("Je juf of meester weet dan dat je misschien een moeilijke dag hebt, en let "
                   "extra goed op je. Je hoeft niets te vertellen. Wil je wel praten, dan luistert "
                   "je juf of meester naar je."),
                _p("Misschien wil je even op een rustig plekje zitten, of maak je een toets liever "
                   "een andere dag. Dat mag je zeggen."),
                _p("Je ouders weten dat de school zo’n berichtje kan krijgen. Vaak praat je juf "
                   "of meester er ook even met hen over."),
            )),
            Section("Het berichtje verdwijnt", (
                _p("We gaan heel voorzichtig met het berichtje om. We schrijven het nergens op, "
                   "en als het gelezen is, wordt het gewist."),
            )),
            Section("Wil je praten?", (
                _p("Gebeuren er thuis nare dingen, ook als de politie niet is geweest? Je mag het "
                   f"altijd vertellen aan je juf of meester, of aan {who}. Je kunt ook gratis "
                   f"bellen of chatten met de Kindertelefoon: {KINDERTELEFOON}."),
                _p("Heb je nog vragen over deze brief? Vraag het aan je juf of meester."),
            )),
        )
        greeting, closing = "Hallo allemaal,", "Groetjes,"
    signer = (_join(s.receiver_names + s.directors),) if (s.receiver_names or s.directors) \
        else ()
    return dict(heading="Handle with Care", sections=sections,
                audience=f"Voor de leerlingen van {s.name}", greeting=greeting,
                closing=closing, signature=signer + (f"{s.name}",))


def _website(s: SchoolFacts, d: dict[str, int]) -> dict:
    """Text for the website or schoolgids (handbook ch. 9), written as the school's 'we'."""
    if s.is_vo:
        what = (f"Het signaal komt binnen bij {_receivers_phrase(s)}. De zorgcoördinator "
                "zoekt de leerling aan het begin van de schooldag op. Samen bespreken ze wat de leerling nodig heeft "
                "en wie op school het mag weten, bijvoorbeeld de mentor; de leerling beslist "
                "daarover mee. Na dat gesprek neemt de zorgcoördinator contact op met de ouders, "
                "als dat veilig kan.")
    else:
        what = (f"Het signaal komt binnen bij {_receivers_phrase(s)}, die het alleen doorgeeft "
                "aan de groepsleerkracht van het kind. De leerkracht neemt contact op met de "
                "ouders om te vertellen dat de school het kind steunt, als dat veilig kan.")
    sections = (
        Section("", (
            _p(f"{s.name} doet mee aan Handle with Care, samen met de politie, Veilig Thuis en "
               f"{_municipality_phrase(s)}. Heeft een leerling thuis huiselijk geweld of "
               "kindermishandeling meegemaakt en is de politie daarbij geweest, dan willen we "
               "die leerling de volgende schooldag extra steun kunnen geven. Een kind dat merkt "
               "dat iemand op school er die dag voor hem of haar is, komt sneller tot rust."),
            _p("Daarvoor krijgt de school een Handle with Care-signaal: de politie meldt het aan "
               "Veilig Thuis, Veilig Thuis geeft het door aan leerplicht van de gemeente, en de "
               "gemeente stuurt het naar de school van het kind. Het signaal bevat alleen de "
               "naam en de geboortedatum van de leerling en het codewoord ‘Handle with Care’. "
               "Wat er is gebeurd, horen we niet."),
            _p(what),
            _p("We vragen de leerling niet uit. Steun is vaak eenvoudig: aandacht, een rustige "
               "plek, een toets op een ander moment, iemand die luistert als de leerling dat "
               "wil."),
            _p("We gaan zorgvuldig met het signaal om. We delen het alleen met wie het moet "
               "weten, zetten het niet in een dossier of leerlingvolgsysteem, en het wordt na "
               "gebruik vanzelf gewist. Achteraf is het nergens terug te vinden."),
            _p("Ouders en leerlingen hebben over Handle with Care een brief gekregen. Hebt u "
               f"vragen, neem dan contact op met {_contact_people(s)}. Bent u het niet eens met "
               "hoe we met een signaal zijn omgegaan, dan gaan we graag met u in gesprek; u "
               "kunt ook gebruikmaken van onze klachtenregeling."),
        )),
    )
    return dict(heading="Handle with Care", sections=sections)


def _werkproces(s: SchoolFacts, d: dict[str, int]) -> dict:
    """The internal work process on one page (handbook ch. 2 and 12), as HwC Inbox runs it."""
    nobody = "nog niet aangewezen"
    backups = _join(s.backup_names) or nobody
    people = [
        ("Ontvanger" + ("s" if len(s.receiver_names) > 1 else ""),
         _join(s.receiver_names) or nobody),
        ("Achterwacht", backups),
    ]
    if s.directors:
        people.append(("Directie", _join(s.directors)))
    people += [
        ("Begin van de school", s.start_time),
        ("Achterwacht krijgt bericht", f"om {s.escalation_time} als het signaal dan nog niet "
                                       "geopend is"),
        ("Signalen komen van", f"leerplicht van {_municipality_phrase(s)}"),
        ("Wie het daarna hoort",
         "alleen wie de leerling goedvindt, meestal de mentor" if s.is_vo
         else "alleen de groepsleerkracht van het kind"),
    ]
    steps = [
        ("Signaal binnen.", "De gemeente stuurt het signaal naar HwC Inbox; er is geen aparte "
         "mailbox meer. De ontvangers krijgen een pushbericht zonder naam. ’s\u00a0Avonds, in het "
         "weekend en in vakanties wacht dat bericht tot de volgende schoolochtend."),
        (f"Kijken vóór {s.start_time}.", "Open de app elke schoolochtend vóór schooltijd. Na een "
         "passkey-controle zie je naam en geboortedatum één keer. Schrijf ze niet op en maak "
         "geen schermafbeelding."),
        (f"Achterwacht om {s.escalation_time}.", f"Is het signaal dan nog niet geopend, dan "
         f"krijgt de achterwacht ({backups}) een pushbericht en mag die het openen. Komt een "
         "signaal onder schooltijd binnen, dan volgt de achterwacht kort daarna. Ben je "
         "afwezig, zet dat dan in de app bij ‘Mijn instellingen’: nieuwe signalen gaan dan "
         "meteen naar de achterwacht."),
    ]
    if s.is_vo:
        steps += [
            ("Eerst de leerling.", "Zoek de leerling aan het begin van de dag op. Spreek samen af "
             "wat de leerling nodig heeft en wie het mag weten. Vraag niet door over wat er is "
             "gebeurd."),
            ("Mentor of niet.", "Mag de mentor het weten: kies de mentor in de app (die leest één "
             "keer één regel) of vertel het zelf en vink dat af. Wil de leerling het niet, kies "
             "dan ‘De leerling wil niet dat de mentor het weet’. Kies binnen "
             f"{d['handover_minutes']} minuten na het openen; daarna maakt de app geen bericht "
             "meer en vertel je het de mentor zelf."),
            ("Steun.", "De mentor (of wie de leerling koos) is er voor de leerling: kijken hoe het "
             "gaat, rust geven, een toets verzetten, luisteren als de leerling wil. Tips staan "
             "in de app."),
            ("Ouders.", "Na het gesprek met de leerling neemt de zorgcoördinator contact op met "
             "de ouders, als dat veilig kan: we hebben een signaal gekregen en zo steunen we "
             "uw kind. Niet oordelen, niet vragen wat er is gebeurd. Noteer daarna in de app "
             "hoe het ging; dan sluit het signaal."),
        ]
    else:
        steps += [
            ("Leerkracht inlichten.", "Kies in de app de groepsleerkracht: die krijgt een "
             "pushbericht en leest één keer één regel met de naam. Of vertel het zelf en vink dat "
             f"af in de app. Kies binnen {d['handover_minutes']} minuten na het openen; daarna "
             "maakt de app geen bericht meer en vertel je het zelf. Alleen de leerkracht hoort "
             "het: geen collega’s, geen dossier of leerlingvolgsysteem."),
            ("Steun.", "De leerkracht kijkt hoe het kind binnenkomt, vraagt niet wat er is "
             "gebeurd en laat het kind bepalen. Een rustig plekje, een toets later, een kind dat "
             "te laat komt niet aanspreken. Tips staan in de app."),
            ("Ouders.", "De leerkracht neemt contact op met de ouders als dat veilig kan: we "
             "hebben een signaal gekregen en zo steunen we uw kind. Niet oordelen, niet vragen "
             "wat er is gebeurd. De ontvanger noteert daarna in de app hoe het ging; dan sluit "
             "het signaal."),
        ]
    sections = [
        Section("Wie en wanneer", (_dl(*people),)),
        Section("Als er een signaal is", (_ol(*steps),)),
        Section("Verder", (
            _ul("Niet onze leerling? Kies ‘Niet onze leerling’. Het signaal wordt gewist en de "
                "gemeente ziet dat het is teruggestuurd. Meld het als mogelijk datalek volgens "
                "de procedure van het bestuur, ook bij twijfel.",
                "Neem over het kind geen contact op met de gemeente; die geeft alleen het "
                f"signaal door. Advies nodig? Bel Veilig Thuis: {VEILIG_THUIS}.",
                "Eigen zorgen, of vertelt het kind meer? Volg de meldcode huiselijk geweld en "
                "kindermishandeling.",
                f"Opent niemand het signaal, dan vervalt het na {d['unopened_expiry_days']} dagen "
                "en ziet de gemeente ‘verlopen’. Na afloop blijft alleen een telling zonder naam "
                "over.",
                "Telefoon kwijt of nieuw? De directeur trekt de oude passkey in en stuurt een "
                "nieuwe uitnodiging."),
        )),
    ]
    missing = gaps(s)
    if missing:
        sections.insert(0, Section("Nog te regelen", (_ul(*missing),)))
    return dict(heading="Werkproces Handle with Care", sections=tuple(sections),
                audience="Voor intern gebruik: ontvangers, achterwacht en directie")


def _privacy(s: SchoolFacts, d: dict[str, int]) -> dict:
    """Privacy summary for the (G)MR, from docs/privacy.md, in words a parent member reads."""
    receivers = _join(s.receiver_names) or f"de {s.receiver_title}"
    backups = _join(s.backup_names) or "de achterwacht"
    teacher = s.teacher_word
    sections = (
        Section("", (
            _p(f"{s.name} doet mee aan Handle with Care. De (G)MR stemt in met de manier waarop "
               "we dat doen. Dit stuk vat samen welke gegevens daarbij gebruikt worden, wie ze "
               "ziet, hoe lang ze bestaan en hoe ze verdwijnen. In plaats van een beveiligde "
               "mailbox gebruiken we de app HwC Inbox. De volledige beschrijving is op te vragen "
               "bij " + (_join(s.directors) if s.directors else "de directie") + "."),
        )),
        Section("Welke gegevens", (
            _ul("Van het kind: alleen de naam en de geboortedatum, en voor welke school het "
                "signaal is. Niet wat er is gebeurd, geen adres, geen BSN, geen toelichting. "
                "Stuurt de gemeente meer mee, dan weigert de app het hele bericht en bewaart er "
                "niets van.",
                "Van de gemeente: een eigen kenmerk, zodat zij kan nagaan of het signaal is "
                "aangekomen. We spreken af dat dit een zaaknummer is, geen naam of BSN.",
                "Tijdstippen (ontvangen, geopend, leerkracht ingelicht, afgesloten), zonder "
                "naam."),
        )),
        Section("Wie ziet wat", (
            _ul(f"Ontvanger{'s' if len(s.receiver_names) > 1 else ''} ({receivers}) en "
                f"achterwacht ({backups}): naam en geboortedatum, "
                "één keer, na inloggen met een passkey op de eigen telefoon. De achterwacht "
                "alleen als de ontvangers afwezig zijn of als het signaal om "
                f"{s.escalation_time} nog niet geopend is.",
                f"De {teacher}: één regel met naam en geboortedatum, één keer, alleen als de "
                "ontvanger die kiest" + (" en de leerling dat goedvindt." if s.is_vo else "."),
                "De directeur: geen namen, alleen anonieme cijfers per maand (tenzij de "
                "directeur zelf ontvanger of achterwacht is).",
                "De gemeente: alleen de status van haar eigen signalen en anonieme cijfers, "
                "nooit een naam terug.",
                "Niemand anders: geen collega’s, geen andere school, geen beheerder van de "
                "server."),
        )),
        Section("Hoe lang", (
            _dl(("Niet geopend", f"gewist na {d['unopened_expiry_days']} dagen (rond een "
                                 "vakantie iets later, hoogstens 21 dagen extra)"),
                ("Na het openen", f"de ontvanger kiest binnen {d['handover_minutes']} minuten "
                                  f"wie het hoort; daarna is die kopie weg"),
                (f"Bericht voor de {teacher}", "gewist zodra het gelezen is, of na "
                                               f"{d['note_unread_expiry_days']} schooldagen "
                                               "ongelezen"),
                ("Afronden", f"een signaal sluit zich na hoogstens {d['case_autoclose_days']} "
                             "dagen, ook als het oudercontact niet is genoteerd"),
                ("Bevestiging voor de gemeente", f"zonder naam; verwijderd na "
                                                 f"{d['receipt_purge_days']} dagen"),
                ("Daarna", "alleen tellingen per school per maand, zonder naam")),
        )),
        Section("Hoe het verdwijnt", (
            _p("Elke naam wordt versleuteld opgeslagen, met een eigen sleutel. De sleutels staan "
               "in een apart bestand dat nooit in een back-up komt. Wissen betekent: tekst en "
               "sleutel samen vernietigen, en de database overschrijft de vrijgekomen ruimte. "
               "Een oude back-up bevat dus alleen versleutelde tekst waarvan de sleutel niet "
               "meer bestaat. Dat heet crypto-shredding. Een automatische test zoekt na afloop "
               "elk bestand van de gegevensmap door op de naam, en vindt niets."),
            _p("Ook onderweg staat de naam nergens: niet in logbestanden, pushberichten, "
               "webadressen, paginatitels of de opslag van de telefoon. Een pushbericht zegt "
               "alleen: ‘Er staat een nieuw bericht voor je klaar.’"),
        )),
        Section("Gegevens van medewerkers", (
            _p("Voor het inloggen en de meldingen bewaart de app per medewerker de naam, de rol, "
               "de publieke sleutel van de passkey, het push-abonnement van de telefoon en een "
               "logboek van wat er in het beheer is gedaan. Die gegevens verdwijnen niet vanzelf; "
               "we maken met de beheerder afspraken over hoe lang ze blijven."),
        )),
        Section("Als het misgaat", (
            _p("Komt een signaal binnen voor een kind dat niet bij ons op school zit, dan kiest "
               "de ontvanger ‘Niet onze leerling’: de app wist het meteen en de gemeente ziet "
               "dat het is teruggestuurd. Dat is een mogelijk datalek. De ontvanger meldt het "
               "volgens de datalekprocedure van het bestuur, en de projectleider Handle with "
               "Care van de regio wordt ingelicht. Ook een naam doorsturen buiten de app om, "
               "bijvoorbeeld met een schermafbeelding, is een datalek."),
        )),
        Section("Rechten van ouders en leerlingen", (
            _ul("Informeren: ouders en leerlingen krijgen een brief, en Handle with Care staat "
                "op de website en in de schoolgids.",
                "Na een signaal: " + (
                    "de zorgcoördinator praat eerst met de leerling en neemt daarna contact op "
                    "met de ouders, als dat veilig kan." if s.is_vo else
                    "de leerkracht neemt contact op met de ouders, als dat veilig kan."),
                "Inzage: na afloop staat er over een kind niets meer in de app, en niets in het "
                "schooldossier. Ouders kunnen hun dossier bij Veilig Thuis opvragen.",
                "Klachten: eerst een gesprek met de " + ("zorgcoördinator" if s.is_vo
                                                          else "leerkracht") +
                ", daarna met de directeur, daarna de klachtenregeling van de school."),
        )),
        Section("Waarmee de (G)MR instemt", (
            _ul("Deelname aan Handle with Care volgens het regionale convenant.",
                f"De werkwijze in het werkproces, met {receivers} als ontvanger en {backups} als "
                "achterwacht.",
                "Het gebruik van HwC Inbox in plaats van een beveiligde mailbox.",
                "De brieven aan ouders en leerlingen en de tekst voor website en schoolgids."),
        )),
    )
    return dict(heading="Privacy bij Handle with Care", sections=sections,
                audience=f"Voor de medezeggenschapsraad van {s.name}")
