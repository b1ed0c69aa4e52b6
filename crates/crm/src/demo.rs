//! Sample CRM data for `relais demo`: French companies, their people, leads with UTM attribution,
//! and deals spread over the default pipeline — written through the same validation as the API.

use kernel::db::Actor;
use kernel::web::AppState;
use kernel::{AppError, OrgId};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::object::ObjectType;
use crate::records::{self, Source, WriteCtx};

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

pub async fn seed(state: &AppState, org: OrgId, owner: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(org, Actor::System).await?;
    // The records were entered a little earlier, so that today's work (`today`) is what the home
    // page's recent activity shows first.
    let earlier = state.clock.now() - time::Duration::hours(2);
    let ctx = WriteCtx { user: Some(owner), source: Source::System, now: earlier, import_id: None };
    crate::pipelines::ensure_default(&mut tx, ctx.now).await?;
    let companies = [
        ("Boulangeries Lemoine", "lemoine-boulangeries.fr", "Lyon", "51-200", "Agroalimentaire"),
        ("Atelier Vasseur", "atelier-vasseur.fr", "Nantes", "11-50", "Menuiserie"),
        ("Transports Roux & Fils", "roux-transports.fr", "Lille", "201-1000", "Logistique"),
        ("Clinique du Parc", "clinique-du-parc.fr", "Bordeaux", "201-1000", "Santé"),
        ("Société Générale d'Éclairage", "sge-eclairage.fr", "Paris", "1001-5000", "Énergie"),
        ("Hôtel Belle Rive", "hotel-bellerive.fr", "Annecy", "11-50", "Hôtellerie"),
    ];
    let mut company_ids = Vec::new();
    for (name, domain, city, size, industry) in companies {
        let input = fields(
            json!({ "name": name, "domain": domain, "city": city, "country": "FR", "size": size, "industry": industry }),
        );
        company_ids.push(records::create(&mut tx, ObjectType::Company, &input, &ctx).await?.id);
    }
    let people = [
        ("Sophie", "Lemoine", "Gérante", 0),
        ("Karim", "Haddad", "Directeur des achats", 0),
        ("Julien", "Vasseur", "Fondateur", 1),
        ("Nathalie", "Roux", "Directrice administrative et financière", 2),
        ("Thomas", "Roux", "Responsable flotte", 2),
        ("Dr Anne", "Mercier", "Directrice", 3),
        ("François", "Lefèvre", "Responsable des services généraux", 4),
        ("Chloé", "Garnier", "Acheteuse", 4),
        ("Marc", "Delacroix", "Directeur", 5),
    ];
    let mut contact_ids = Vec::new();
    for (i, (first, last, title, company)) in people.iter().enumerate() {
        let domain = companies[*company].1;
        let email = format!("{}.{}@{domain}", first.to_lowercase().replace("dr ", ""), last.to_lowercase())
            .replace(['é', 'è'], "e")
            .replace('ç', "c");
        let input = fields(json!({ "first_name": first, "last_name": last, "title": title, "email": email,
                                   "phone": format!("06 {:02} {:02} {:02} {:02}", 10 + i, 20 + i, 30 + i, 40 + i),
                                   "language": "fr", "time_zone": "Europe/Paris" }));
        let id = records::create(&mut tx, ObjectType::Contact, &input, &ctx).await?.id;
        sqlx::query!(
            "insert into contact_companies (org_id, contact_id, company_id, role, is_primary, created_at)
             values ($1, $2, $3, $4, true, $5)",
            org.0,
            id,
            company_ids[*company],
            *title,
            ctx.now
        )
        .execute(tx.conn())
        .await?;
        contact_ids.push(id);
    }
    let stages: Vec<Uuid> = sqlx::query_scalar!(
        "select s.stage_id from pipeline_stages s join pipelines p using (org_id, pipeline_id)
          where s.org_id = $1 order by p.position, s.position",
        org.0
    )
    .fetch_all(tx.conn())
    .await?;
    let deals = [
        ("Renouvellement des fours", 0, "48 000", 0),
        ("Agencement boutique Vieux-Lyon", 0, "12 500", 1),
        ("Mobilier sur mesure showroom", 1, "8 900", 2),
        ("Télématique flotte 120 camions", 2, "96 000", 3),
        ("Contrat de maintenance 3 ans", 3, "35 000", 3),
        ("Relamping LED siège", 4, "210 000", 4),
        ("Audit énergétique", 5, "6 500", 4),
        ("Séminaire d'automne", 5, "18 000", 5),
    ];
    let mut deal_ids = Vec::new();
    for (name, company, amount, stage) in deals {
        let input =
            fields(json!({ "name": name, "company_id": company_ids[company], "amount": amount, "currency": "EUR",
                                   "stage_id": stages.get(stage).copied().unwrap_or_default() }));
        deal_ids.push(records::create(&mut tx, ObjectType::Deal, &input, &ctx).await?.id);
    }
    let leads = [
        (
            "Inès",
            "Fabre",
            "ines.fabre@cafe-fabre.fr",
            "Café Fabre",
            "Formulaire du site",
            "newsletter",
            "email",
            "automne-2026",
        ),
        (
            "Paul",
            "Girard",
            "p.girard@girard-btp.fr",
            "Girard BTP",
            "Formulaire du site",
            "linkedin",
            "social",
            "salon-batimat",
        ),
        ("Emma", "Petit", "emma@petit-et-associes.fr", "Petit & Associés", "Recommandation", "", "", ""),
        ("Louis", "Marchand", "louis.marchand@marchand-vins.fr", "Maison Marchand", "Salon", "", "", ""),
    ];
    for (first, last, email, company, source, utm_source, utm_medium, utm_campaign) in leads {
        let input = fields(json!({ "first_name": first, "last_name": last, "email": email, "company_name": company,
                                   "source": source, "utm_source": utm_source, "utm_medium": utm_medium, "utm_campaign": utm_campaign }));
        records::create(&mut tx, ObjectType::Lead, &input, &ctx).await?;
    }
    // A published landing-page form, so the demo shows /crm/forms and a public page at once.
    let form = crate::forms::FormInput {
        name: Some("Salon Batimat 2026".into()),
        title: Some("Recevez notre catalogue Batimat".into()),
        fields: Some(vec!["first_name".into(), "last_name".into(), "email".into(), "company_name".into()]),
        required_fields: Some(vec!["email".into()]),
        consent_text: Some("J'accepte d'être recontacté(e) par l'équipe commerciale au sujet de ce salon.".into()),
        language: Some("fr".into()),
        lead_source: Some("Salon Batimat".into()),
        owner_id: Some(Some(owner)),
        ..crate::forms::FormInput::default()
    };
    let form = crate::forms::service::create(&mut tx, &state.audit, form, owner, ctx.now).await?;
    let now = WriteCtx { now: state.clock.now(), ..ctx };
    today(&mut tx, state, &now, owner, &form, &deal_ids, &stages).await?;
    tx.commit().await?;
    Ok(())
}

/// Today's work, so the home page answers "what do I do today" on the demo too: a lead from the
/// form this morning, tasks due (one overdue, one today, one next week), a note and a stage change.
async fn today(
    tx: &mut kernel::OrgTx,
    state: &AppState,
    ctx: &WriteCtx,
    owner: Uuid,
    form: &crate::forms::LeadForm,
    deals: &[Uuid],
    stages: &[Uuid],
) -> Result<(), AppError> {
    let body: Vec<(String, String)> = [
        ("first_name", "Camille"),
        ("last_name", "Roussel"),
        ("email", "camille.roussel@menuiserie-roussel.fr"),
        ("company_name", "Menuiserie Roussel"),
        ("consent", "yes"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let attribution = crate::forms::Attribution::default();
    crate::forms::service::submit(tx, &state.audit, form, &body, &attribution, ctx.now).await?;
    let hours = time::Duration::hours;
    let tasks = [
        (0, "Rappeler Sophie Lemoine au sujet du devis des fours", hours(-20)),
        (3, "Envoyer la proposition révisée à Nathalie Roux", hours(3)),
        (5, "Préparer la démo du relamping", hours(24 * 6)),
    ];
    for (deal, title, due_in) in tasks {
        let Some(&deal) = deals.get(deal) else { continue };
        let input = crate::worklog::TaskInput {
            title: title.into(),
            description: String::new(),
            assignee_id: Some(owner),
            due_at: Some(ctx.now + due_in),
            remind_at: None,
        };
        crate::worklog::service::add_task(tx, ObjectType::Deal, deal, owner, &input, ctx.now).await?;
    }
    if let (Some(&deal), Some(&stage)) = (deals.get(1), stages.get(2)) {
        records::update(tx, ObjectType::Deal, deal, &fields(json!({ "stage_id": stage })), ctx).await?;
    }
    if let Some(&deal) = deals.get(5) {
        let note = "Budget validé par la direction : **signature prévue fin du mois**.";
        crate::worklog::service::add_note(tx, ObjectType::Deal, deal, owner, note, ctx.now).await?;
    }
    Ok(())
}
