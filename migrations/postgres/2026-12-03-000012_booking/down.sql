DROP TABLE booking_waitlist;
DROP TABLE bookings;
DROP TABLE booking_limits;
DROP TABLE booking_slots;
DROP TABLE calendar_closures;
DROP TABLE calendars;
ALTER TABLE services DROP COLUMN booking;
