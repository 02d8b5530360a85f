-- National code sets, loaded as data. A revision is a new code set in a new migration.
INSERT INTO code_sets (name, kind, description, active, published) VALUES
 ('nhse-2023', 'delay_reason', 'NHS England acute discharge sitrep delay reasons (2023)', true, '2023-04-01'),
 ('homeward-1', 'capacity_type', 'Homeward capacity types, version 1', true, '2026-11-01'),
 ('nhsdd-ctr-2020', 'ctr_reason', 'NHS Data Dictionary criteria to reside reasons', true, '2020-09-01');

INSERT INTO delay_reasons (code, code_set, label, sector, sort_order) VALUES
 ('medical_decision', 'nhse-2023', 'Awaiting a medical decision or intervention, including the discharge summary', 'acute', 1),
 ('therapy_decision', 'nhse-2023', 'Awaiting a therapy decision or intervention', 'acute', 2),
 ('referral_to_hub', 'nhse-2023', 'Awaiting referral to the care transfer hub or receiving service', 'acute', 3),
 ('hub_confirmation', 'nhse-2023', 'Awaiting confirmation from the hub or receiving service that the referral was actioned', 'hub', 4),
 ('medicines_tto', 'nhse-2023', 'Awaiting medicines to take home', 'acute', 5),
 ('transport', 'nhse-2023', 'Awaiting transport', 'acute', 6),
 ('p1_new_care', 'nhse-2023', 'Pathway 1: awaiting resource for assessment and start of care at home', 'social_care', 7),
 ('p1_continued_rehab', 'nhse-2023', 'Pathway 1: awaiting resource to continue rehabilitation or reablement at home', 'community', 8),
 ('p2_bed', 'nhse-2023', 'Pathway 2: awaiting a rehabilitation or recovery bed in a community setting', 'community', 9),
 ('p3_placement', 'nhse-2023', 'Pathway 3: awaiting a residential or nursing home bed, likely permanent', 'social_care', 10),
 ('p3_end_of_life', 'nhse-2023', 'Pathway 3: awaiting a care home bed for end-of-life care', 'social_care', 11),
 ('equipment_adaptations', 'nhse-2023', 'Awaiting equipment or adaptations to housing', 'community', 12),
 ('family_disagreement', 'nhse-2023', 'Patient or family not in agreement with discharge plans', 'patient_family', 13),
 ('no_place_to_go', 'nhse-2023', 'Homeless, no recourse to public funds, or no suitable place to go', 'housing', 14),
 ('safeguarding', 'nhse-2023', 'Safeguarding concern or Court of Protection', 'social_care', 15),
 ('transfer_to_acute', 'nhse-2023', 'Awaiting transfer back or to another acute trust', 'acute', 16),
 ('diagnostic_test', 'nhse-2023', 'Awaiting a diagnostic test', 'acute', 17),
 ('infection_control', 'nhse-2023', 'Remains in hospital to avoid spreading infection, no suitable place', 'acute', 18),
 ('chc_decision', 'nhse-2023', 'Awaiting an NHS Continuing Healthcare funding decision', 'community', 19),
 ('no_plan', 'nhse-2023', 'No plan', 'other', 20);

INSERT INTO capacity_types (code, code_set, label, pathway, unit, sort_order) VALUES
 ('home_care', 'homeward-1', 'Home care package', 1, 'package', 1),
 ('reablement', 'homeward-1', 'Reablement at home', 1, 'package', 2),
 ('rehab_at_home', 'homeward-1', 'Rehabilitation at home', 1, 'package', 3),
 ('virtual_ward', 'homeward-1', 'Virtual ward place', 1, 'place', 4),
 ('live_in_care', 'homeward-1', 'Live-in care', 1, 'package', 5),
 ('community_bed', 'homeward-1', 'Community hospital or rehabilitation bed', 2, 'bed', 6),
 ('step_down_bed', 'homeward-1', 'Step-down (discharge to assess) bed', 2, 'bed', 7),
 ('hospice_bed', 'homeward-1', 'Hospice bed', 2, 'bed', 8),
 ('residential', 'homeward-1', 'Residential care home bed', 3, 'bed', 9),
 ('residential_dementia', 'homeward-1', 'Residential dementia bed', 3, 'bed', 10),
 ('nursing', 'homeward-1', 'Nursing home bed', 3, 'bed', 11),
 ('nursing_dementia', 'homeward-1', 'Nursing dementia bed', 3, 'bed', 12);

INSERT INTO ctr_reasons (code, code_set, label, sort_order) VALUES
 ('01', 'nhsdd-ctr-2020', 'Requires critical or high-dependency care', 1),
 ('02', 'nhsdd-ctr-2020', 'Requires oxygen or non-invasive ventilation', 2),
 ('03', 'nhsdd-ctr-2020', 'Requires intravenous fluids', 3),
 ('04', 'nhsdd-ctr-2020', 'NEWS2 score above 3', 4),
 ('05', 'nhsdd-ctr-2020', 'Reduced consciousness with realistic chance of recovery', 5),
 ('06', 'nhsdd-ctr-2020', 'Acute functional impairment beyond what home or community care can provide', 6),
 ('07', 'nhsdd-ctr-2020', 'In the last hours of life', 7),
 ('08', 'nhsdd-ctr-2020', 'Intravenous medicines more than twice a day', 8),
 ('09', 'nhsdd-ctr-2020', 'Lower-limb surgery in the last 48 hours', 9),
 ('10', 'nhsdd-ctr-2020', 'Thoraco-abdominal or pelvic surgery in the last 72 hours', 10),
 ('11', 'nhsdd-ctr-2020', 'Invasive procedure in the last 24 hours with risk of deterioration', 11),
 ('12', 'nhsdd-ctr-2020', 'Meets criteria to reside, reason not recorded', 12);
